//! The inbox: every case, filtered, searched, sorted and shown a page at a time, with
//! overdue cases marked.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

use super::{colour_chip, layout, status_words, Menu, Page};
use crate::desk::ledger::{Case, Colour, Needle, Settings};
use crate::desk::{DeskData, DeskError, Open};
use crate::domain::{Day, Status};
use crate::lang::Lang;

/// Cases on one page of the inbox.
pub const PAGE_SIZE: usize = 100;

/// The inbox's filters, from the query string; empty means "any".
#[derive(Debug, Default, Deserialize)]
pub struct InboxQuery {
    /// Words to search for in every case.
    #[serde(default)]
    pub q: String,
    /// `red`, `yellow`, `blue` or `none`.
    #[serde(default)]
    pub colour: String,
    /// A topic.
    #[serde(default)]
    pub topic: String,
    /// A tag.
    #[serde(default)]
    pub tag: String,
    /// The inspector in charge.
    #[serde(default)]
    pub assignee: String,
    /// A status name.
    #[serde(default)]
    pub status: String,
    /// `open` (the default), `closed` or `all`.
    #[serde(default)]
    pub state: String,
    /// `1`: only cases under supervision.
    #[serde(default)]
    pub supervised: String,
    /// `1`: only overdue cases.
    #[serde(default)]
    pub overdue: String,
    /// `1`: only cases with a follow-up not yet answered.
    #[serde(default)]
    pub new: String,
    /// `new` (default), `old`, `colour`, `due`, `topic`, `assignee`, `status`.
    #[serde(default)]
    pub sort: String,
    /// Page number, from 1.
    #[serde(default)]
    pub page: Option<usize>,
}

impl InboxQuery {
    fn keeps(&self, c: &Case, settings: &Settings, today: Day, needle: &Needle) -> bool {
        let colour_ok = match self.colour.as_str() {
            "" => true,
            "none" => c.colour.is_none(),
            other => c.colour.map(Colour::as_str) == Some(other),
        };
        let state_ok = match self.state.as_str() {
            "all" => true,
            "closed" => c.is_closed(),
            _ => !c.is_closed(),
        };
        colour_ok
            && state_ok
            && (self.topic.is_empty() || c.topic.as_deref() == Some(self.topic.as_str()))
            && (self.tag.is_empty() || c.tags.contains(&self.tag))
            && (self.assignee.is_empty() || c.assignee.as_deref() == Some(self.assignee.as_str()))
            && (self.status.is_empty() || c.status.as_str() == self.status)
            && (self.supervised != "1" || c.supervised)
            && (self.overdue != "1" || c.overdue(settings, today))
            && (self.new != "1" || c.has_unanswered_followup())
            && (needle.is_empty() || c.contains(needle))
    }

    /// The cases this query shows, sorted (all pages).
    pub fn select<'a>(&self, open: &'a Open, today: Day) -> Vec<&'a Case> {
        let needle = Needle::new(self.q.trim());
        let settings = &open.ledger.settings;
        let mut cases: Vec<&Case> = open
            .ledger
            .cases
            .values()
            .filter(|c| self.keeps(c, settings, today, &needle))
            .collect();
        match self.sort.as_str() {
            "old" => cases.sort_by_key(|c| (c.received_on, c.id)),
            "colour" => cases.sort_by_key(|c| {
                (
                    c.colour.map_or(3, Colour::index),
                    !c.supervised,
                    std::cmp::Reverse(c.received_on),
                    c.id,
                )
            }),
            "due" => cases.sort_by_key(|c| (c.answer_by(settings), c.id)),
            // Cases without one last, then newest first within each.
            "topic" => cases.sort_by(|a, b| {
                (
                    a.topic.is_none(),
                    &a.topic,
                    std::cmp::Reverse(a.received_on),
                    a.id,
                )
                    .cmp(&(
                        b.topic.is_none(),
                        &b.topic,
                        std::cmp::Reverse(b.received_on),
                        b.id,
                    ))
            }),
            "assignee" => cases.sort_by(|a, b| {
                (
                    a.assignee.is_none(),
                    &a.assignee,
                    std::cmp::Reverse(a.received_on),
                    a.id,
                )
                    .cmp(&(
                        b.assignee.is_none(),
                        &b.assignee,
                        std::cmp::Reverse(b.received_on),
                        b.id,
                    ))
            }),
            "status" => {
                cases.sort_by_key(|c| (c.status.code(), std::cmp::Reverse(c.received_on), c.id))
            }
            _ => cases.sort_by_key(|c| (std::cmp::Reverse(c.received_on), c.id)),
        }
        cases
    }

    /// The filters set, as form fields.
    fn fields(&self) -> Vec<(&'static str, &str)> {
        [
            ("q", self.q.as_str()),
            ("colour", &self.colour),
            ("topic", &self.topic),
            ("tag", &self.tag),
            ("assignee", &self.assignee),
            ("status", &self.status),
            ("state", &self.state),
            ("supervised", &self.supervised),
            ("overdue", &self.overdue),
            ("new", &self.new),
            ("sort", &self.sort),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect()
    }

    /// A button to another page of the same list. It posts the filters rather than
    /// linking to them, so that search words, tags and names stay out of the browser's
    /// history.
    fn page_button(&self, l: Lang, page: usize, rel: &str, label: &str) -> Markup {
        html! {
            form.page autocomplete="off" method="post" action={ "/" (l.code()) "/" } {
                @for (k, v) in self.fields() { input type="hidden" name=(k) value=(v); }
                input type="hidden" name="page" value=(page);
                button.secondary type="submit" data-rel=(rel) { (label) }
            }
        }
    }
}

/// `POST /{lang}/`: the filter form and the page buttons (see [`InboxQuery::page_button`]).
pub async fn inbox_post(
    desk: DeskData,
    lang: web::Path<String>,
    query: web::Form<InboxQuery>,
) -> Result<HttpResponse, DeskError> {
    let l = super::lang(&lang)?;
    let today = desk.today();
    let markup = desk.with_open(|open| Ok(inbox_markup(open, &query, l, today)))?;
    Ok(super::html(StatusCode::OK, markup))
}

/// `GET /{lang}/`; links without search words (overdue, new follow-ups) come this way.
pub async fn inbox(
    desk: DeskData,
    lang: web::Path<String>,
    query: web::Query<InboxQuery>,
) -> Result<HttpResponse, DeskError> {
    let l = super::lang(&lang)?;
    let today = desk.today();
    let markup = desk.with_open(|open| Ok(inbox_markup(open, &query, l, today)))?;
    Ok(super::html(StatusCode::OK, markup))
}

/// The inbox page for `query` (public for the benchmark).
pub fn inbox_markup(open: &Open, query: &InboxQuery, l: Lang, today: Day) -> Markup {
    let settings = &open.ledger.settings;
    let cases = query.select(open, today);
    let pages = cases.len().div_ceil(PAGE_SIZE).max(1);
    let page = query.page.unwrap_or(1).clamp(1, pages);
    let shown = cases.iter().skip((page - 1) * PAGE_SIZE).take(PAGE_SIZE);
    let overdue_all = open
        .ledger
        .cases
        .values()
        .filter(|c| c.overdue(settings, today))
        .count();
    let new_all = open
        .ledger
        .cases
        .values()
        .filter(|c| c.has_unanswered_followup())
        .count();
    let content = html! {
        h1 { (l.pick("收件箱", "Inbox")) }
        p.summary {
            (l.pick("共 ", "")) strong #case-count { (open.ledger.cases.len()) }
            (l.pick(" 件线索；", " cases; "))
            @if overdue_all > 0 {
                a.overdue-link href={ "/" (l.code()) "/?overdue=1" } {
                    strong #overdue-count { (overdue_all) } (l.pick(" 件已超期", " overdue"))
                }
            } @else {
                span #overdue-count { "0" } (l.pick(" 件超期", " overdue"))
            }
            @if new_all > 0 {
                (l.pick("；", "; "))
                a href={ "/" (l.code()) "/?state=all&new=1" } {
                    strong #new-count { (new_all) } (l.pick(" 件有新补充", " with a new follow-up"))
                }
            }
            (l.pick("；今天 ", "; today is ")) (today)
        }
        p.legend {
            @for c in Colour::ALL {
                (colour_chip(l, Some(c))) " " span.hint.meaning { (settings.colour_meanings[c.index()]) } " "
            }
        }
        (filters(l, query, settings, open))
        p #shown { (l.pick("显示 ", "Showing ")) (cases.len()) (l.pick(" 件", " cases"))
            @if pages > 1 { (l.pick("，第 ", ", page ")) (page) " / " (pages) } }
        @if cases.is_empty() {
            p.empty { (l.pick("没有符合条件的线索。", "No case matches.")) }
        } @else {
            table.inbox {
                thead { tr {
                    th scope="col" { (l.pick("分级", "Colour")) }
                    th scope="col" { (l.pick("编号", "Case")) }
                    th scope="col" { (l.pick("收到", "Received")) }
                    th scope="col" { (l.pick("主题 / 标签", "Topic / tags")) }
                    th scope="col" { (l.pick("承办人", "Assigned")) }
                    th scope="col" { (l.pick("状态", "Status")) }
                    th scope="col" { (l.pick("时限", "Due")) }
                    th scope="col" { (l.pick("内容", "Words")) }
                } }
                tbody {
                    @for c in shown {
                        (row(l, c, settings, today))
                    }
                }
            }
        }
        @if pages > 1 {
            nav.pages aria-label=(l.pick("翻页", "Pages")) {
                @if page > 1 { (query.page_button(l, page - 1, "prev", l.pick("上一页", "Previous"))) }
                @if page < pages { (query.page_button(l, page + 1, "next", l.pick("下一页", "Next"))) }
            }
        }
    };
    layout(
        Page {
            lang: l,
            title: l.pick("收件箱", "Inbox").into(),
            path: "/",
            office: &open.office_name,
            menu: Menu::Inbox,
        },
        content,
    )
}

fn row(l: Lang, c: &Case, settings: &Settings, today: Day) -> Markup {
    let overdue = c.overdue(settings, today);
    let snippet: String = c.body.chars().take(60).collect();
    html! {
        tr class=[overdue.then_some("overdue")] data-case=(c.id) {
            td { (colour_chip(l, c.colour)) @if c.supervised { " " span.supervised { (l.pick("督办", "supervised")) } } }
            td {
                a href={ "/" (l.code()) "/case/" (c.id) } { code { (c.id) } }
                @if c.has_unanswered_followup() { br; strong.new-followup { (l.pick("有新补充", "new follow-up")) } }
            }
            td { (c.received_on) br; span.hint { (c.age(today)) (l.pick(" 天", " days")) } }
            td {
                @if let Some(t) = &c.topic { (t) }
                @for tag in &c.tags { " " span.tag { (tag) } }
            }
            td { (c.assignee.as_deref().unwrap_or("")) }
            td { (status_words(l, c.status)) }
            td {
                @if overdue { strong.overdue { (l.pick("已超期", "overdue")) } br; }
                @if !c.acknowledged() && !c.is_closed() { (l.pick("回复 ", "ack ")) (c.ack_by(settings)) br; }
                @if !c.is_closed() { (l.pick("办结 ", "answer ")) (c.answer_by(settings)) }
            }
            td.words { (snippet) @if c.body.chars().count() > 60 { "…" } }
        }
    }
}

fn filters(l: Lang, q: &InboxQuery, settings: &Settings, open: &Open) -> Markup {
    let assignees: std::collections::BTreeSet<&str> = open
        .ledger
        .cases
        .values()
        .filter_map(|c| c.assignee.as_deref())
        .collect();
    let tags: std::collections::BTreeSet<&str> = open
        .ledger
        .cases
        .values()
        .flat_map(|c| c.tags.iter().map(String::as_str))
        .collect();
    let opt = |value: &str, label: &str, current: &str| {
        html! { option value=(value) selected[value == current] { (label) } }
    };
    html! {
        // Posted, so that search words, tags and names stay out of the browser's history.
        form.filters autocomplete="off" method="post" action={ "/" (l.code()) "/" } role="search" {
            label for="q" { (l.pick("搜索全部线索的内容、补充、备注和标签", "Search the words, follow-ups, notes and tags of every case")) }
            input #q type="search" name="q" value=(q.q);
            div.row {
                label { (l.pick("分级", "Colour"))
                    select name="colour" {
                        (opt("", l.pick("全部", "any"), &q.colour))
                        @for c in Colour::ALL { (opt(c.as_str(), super::colour_words(l, Some(c)), &q.colour)) }
                        (opt("none", super::colour_words(l, None), &q.colour))
                    }
                }
                label { (l.pick("主题", "Topic"))
                    select name="topic" {
                        (opt("", l.pick("全部", "any"), &q.topic))
                        @for t in &settings.topics { (opt(t, t, &q.topic)) }
                    }
                }
                label { (l.pick("标签", "Tag"))
                    select name="tag" {
                        (opt("", l.pick("全部", "any"), &q.tag))
                        @for t in &tags { (opt(t, t, &q.tag)) }
                    }
                }
                label { (l.pick("承办人", "Assigned to"))
                    select name="assignee" {
                        (opt("", l.pick("全部", "anyone"), &q.assignee))
                        @for a in &assignees { (opt(a, a, &q.assignee)) }
                    }
                }
                label { (l.pick("状态", "Status"))
                    select name="status" {
                        (opt("", l.pick("全部", "any"), &q.status))
                        @for s in Status::ALL { (opt(s.as_str(), super::status_words(l, s), &q.status)) }
                    }
                }
                label { (l.pick("办理情况", "Open or closed"))
                    select name="state" {
                        (opt("", l.pick("在办", "open"), &q.state))
                        (opt("closed", l.pick("已办结", "closed"), &q.state))
                        (opt("all", l.pick("全部", "all"), &q.state))
                    }
                }
                label { (l.pick("排序", "Sort"))
                    select name="sort" {
                        (opt("", l.pick("最新收到", "newest first"), &q.sort))
                        (opt("old", l.pick("最早收到", "oldest first"), &q.sort))
                        (opt("colour", l.pick("按分级", "by colour"), &q.sort))
                        (opt("due", l.pick("按办结时限", "by answer-by day"), &q.sort))
                        (opt("topic", l.pick("按主题", "by topic"), &q.sort))
                        (opt("assignee", l.pick("按承办人", "by inspector"), &q.sort))
                        (opt("status", l.pick("按状态", "by status"), &q.sort))
                    }
                }
            }
            div.row {
                label.check { input type="checkbox" name="supervised" value="1" checked[q.supervised == "1"]; (l.pick("只看挂牌督办", "Only cases under supervision")) }
                label.check { input type="checkbox" name="overdue" value="1" checked[q.overdue == "1"]; (l.pick("只看超期", "Only overdue cases")) }
                label.check { input type="checkbox" name="new" value="1" checked[q.new == "1"]; (l.pick("只看有新补充的", "Only cases with a new follow-up")) }
            }
            button type="submit" { (l.pick("筛选", "Filter")) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_page_is_posted_with_the_filters_never_put_in_an_address() {
        let q = InboxQuery {
            q: "低保".into(),
            tag: "村委会".into(),
            assignee: "王科长".into(),
            ..InboxQuery::default()
        };
        let html = q.page_button(Lang::Zh, 2, "next", "下一页").into_string();
        assert!(html.contains(r#"method="post" action="/zh/""#), "{html}");
        for field in [
            r#"name="q" value="低保""#,
            r#"name="tag" value="村委会""#,
            r#"name="assignee" value="王科长""#,
            r#"name="page" value="2""#,
        ] {
            assert!(html.contains(field), "{field} in {html}");
        }
        assert!(!html.contains("?"), "no query string: {html}");
        assert!(
            !html.contains(r#"name="colour""#),
            "unset filters are left out"
        );
    }
}
