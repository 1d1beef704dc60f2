//! The office's settings: what each colour means, the list of topics, and the default
//! clocks.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use maud::html;
use serde::Deserialize;

use super::{colour_chip, layout, see_other, Menu, Page};
use crate::desk::ledger::{clean_label, Colour, Settings, MAX_TOPICS};
use crate::desk::{DeskData, DeskError};

/// `GET /{lang}/settings`.
pub async fn form(desk: DeskData, lang: web::Path<String>) -> Result<HttpResponse, DeskError> {
    let l = super::lang(&lang)?;
    let markup = desk.with_open(|open| {
        let s = &open.ledger.settings;
        let content = html! {
            h1 { (l.pick("设置", "Settings")) }
            form autocomplete="off" method="post" action={ "/" (l.code()) "/settings" } {
                fieldset {
                    legend { (l.pick("红黄蓝各代表什么", "What each colour means")) }
                    @for c in Colour::ALL {
                        label for={ "meaning-" (c.as_str()) } { (colour_chip(l, Some(c))) }
                        input id={ "meaning-" (c.as_str()) } type="text" name=(c.as_str()) maxlength="80" value=(s.colour_meanings[c.index()]);
                    }
                }
                label for="topics" { (l.pick("主题（每行一个）", "Topics (one per line)")) }
                textarea #topics name="topics" { (s.topics.join("\n")) }
                label for="ack_days" { (l.pick("收到后几天内回复群众", "Days to acknowledge a report")) }
                input #ack_days type="text" inputmode="numeric" name="ack_days" value=(s.ack_days);
                label for="answer_days" { (l.pick("收到后几天内办结", "Days to answer a report")) }
                input #answer_days type="text" inputmode="numeric" name="answer_days" value=(s.answer_days);
                button type="submit" { (l.pick("保存设置", "Save the settings")) }
            }
        };
        Ok(layout(
            Page {
                lang: l,
                title: l.pick("设置", "Settings").into(),
                path: "/settings",
                office: &open.office_name,
                menu: Menu::Settings,
            },
            content,
        ))
    })?;
    Ok(super::html(StatusCode::OK, markup))
}

/// The settings form.
#[derive(Deserialize)]
pub struct SettingsForm {
    red: String,
    yellow: String,
    blue: String,
    topics: String,
    ack_days: String,
    answer_days: String,
}

impl SettingsForm {
    fn parse(&self) -> Result<Settings, &'static str> {
        let meaning = |s: &str| {
            let s = s.trim();
            if s.chars().count() > 80 || s.chars().any(char::is_control) {
                Err("a colour's meaning is one line of at most 80 characters")
            } else {
                Ok(s.to_owned())
            }
        };
        let mut topics = Vec::new();
        for line in self.topics.lines() {
            if let Some(t) = clean_label(line)? {
                if !topics.contains(&t) {
                    topics.push(t);
                }
            }
        }
        if topics.is_empty() || topics.len() > MAX_TOPICS {
            return Err("give between 1 and 40 topics, one per line");
        }
        let days = |s: &str| -> Result<u32, &'static str> {
            s.trim()
                .parse()
                .ok()
                .filter(|d| (1..=365).contains(d))
                .ok_or("a number of days is a whole number from 1 to 365")
        };
        Ok(Settings {
            colour_meanings: [
                meaning(&self.red)?,
                meaning(&self.yellow)?,
                meaning(&self.blue)?,
            ],
            topics,
            ack_days: days(&self.ack_days)?,
            answer_days: days(&self.answer_days)?,
        })
    }
}

/// `POST /{lang}/settings`. Cases keep a topic that was taken off the list.
pub async fn submit(
    desk: DeskData,
    lang: web::Path<String>,
    form: web::Form<SettingsForm>,
) -> Result<HttpResponse, DeskError> {
    let l = super::lang(&lang)?;
    let settings = form.parse().map_err(|e| DeskError::Form(e.into()))?;
    desk.with_open(|open| {
        open.workspace.save_settings(&settings)?;
        open.ledger.settings = settings;
        Ok(())
    })?;
    Ok(see_other(&format!("/{}/settings", l.code())))
}
