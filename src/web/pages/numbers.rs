//! The public numbers: monthly counts for finished months only.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use std::collections::BTreeMap;

use super::{html_response, lang_of, layout, not_found, status_words, Page};
use crate::domain::intake::Channel;
use crate::domain::Status;
use crate::store::MonthCounts;
use crate::web::i18n::{t, Lang};
use crate::web::AppState;

/// `GET /{lang}/numbers`: monthly counts for the public, from coarse days, signed status
/// changes and the monthly counts of letters, calls and visits entered at the office only
/// (a letter is counted like any report; the rest came online). Only finished months are shown (live counts would let someone watching the
/// page and the network tie a tip to the hour it arrived), counts from 1 to 4 are not shown,
/// and the figures are computed at most once an hour.
pub async fn numbers(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let Some(l) = lang_of(&path) else {
        return not_found(req).await;
    };
    let Some(months) = finished_months(&state).await else {
        return crate::web::errors::internal_error_response();
    };
    let page = Page {
        lang: l,
        demo: state.demo,
        title: t(l, "numbers-title"),
        path: "/numbers",
        body_class: "numbers-page",
        script: false,
    };
    html_response(StatusCode::OK, layout(page, numbers_content(l, &months)))
}

/// Finished months' counts, from the cache when it is less than an hour old.
async fn finished_months(
    state: &AppState,
) -> Option<std::sync::Arc<BTreeMap<String, MonthCounts>>> {
    const FRESH: std::time::Duration = std::time::Duration::from_secs(3600);
    if let Some((at, months)) = state.numbers_cache.lock().ok()?.as_ref() {
        if at.elapsed() < FRESH {
            return Some(months.clone());
        }
    }
    let store = state.intake.store.clone();
    let mut months = web::block(move || store.monthly_counts())
        .await
        .ok()?
        .ok()?;
    // A month is finished once the day after it is over too: the counts by channel of its
    // last day are written within the hour after midnight (`EnteredCounts`), so on the 1st
    // the month before is not shown yet (it would change once they are).
    let today = crate::domain::Day::today();
    let yesterday = crate::domain::Day(today.0.saturating_sub(1));
    let open_month = crate::store::month_of(yesterday);
    months.retain(|month, _| *month < open_month);
    let months = std::sync::Arc::new(months);
    *state.numbers_cache.lock().ok()? = Some((std::time::Instant::now(), months.clone()));
    Some(months)
}

/// A count as published: 1 to 4 become "fewer than 5".
fn published(l: Lang, n: u64) -> String {
    match n {
        0 => "0".into(),
        1..=4 => t(l, "numbers-few"),
        n => n.to_string(),
    }
}

/// A month's counts by channel as published. The channels add up to the month's total, so
/// hiding a small one alone would not do: it could be worked out by subtraction, and two or
/// three small ones from their sum (a sum of 2 under two "fewer than 5" is one each). When
/// any channel is from 1 to 4, no channel of that month is shown ("not shown"); the total
/// keeps its own rule.
fn channel_cells(l: Lang, counts: &MonthCounts) -> Vec<(Channel, String)> {
    let cells = counts.by_channel();
    let small = cells.values().any(|n| (1..=4).contains(n));
    cells
        .into_iter()
        .map(|(c, n)| match small {
            true => (c, t(l, "numbers-withheld")),
            false => (c, published(l, n)),
        })
        .collect()
}

fn numbers_content(l: Lang, months: &BTreeMap<String, MonthCounts>) -> Markup {
    let reached = [
        Status::InReview,
        Status::Investigating,
        Status::ClosedSubstantiated,
        Status::ClosedUnsubstantiated,
        Status::Referred,
    ];
    html! {
        h1 { (t(l, "numbers-title")) }
        p { (t(l, "numbers-intro")) }
        @if months.is_empty() {
            p #numbers-none { (t(l, "numbers-none")) }
        }
        @for (month, counts) in months.iter().rev() {
            section.month {
                h2 { (month) }
                table #{ "numbers-" (month) } {
                    tr { th scope="row" { (t(l, "numbers-received")) } td { (published(l, counts.received)) } }
                    @for (channel, cell) in channel_cells(l, counts) {
                        tr.channel data-channel=(channel.as_str()) {
                            th scope="row" { (t(l, &format!("numbers-channel-{}", channel.as_str()))) }
                            td { (cell) }
                        }
                    }
                    @for status in reached {
                        tr { th scope="row" { (status_words(l, status)) }
                             td { (published(l, counts.reached.get(status.as_str()).copied().unwrap_or(0))) } }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_counts_are_not_published() {
        let mut months = BTreeMap::new();
        let mut counts = MonthCounts {
            received: 3,
            ..Default::default()
        };
        counts.reached.insert("referred", 7);
        months.insert("2026-10".to_string(), counts);
        let html = numbers_content(Lang::En, &months).into_string();
        assert!(html.contains("<td>fewer than 5</td>"));
        assert!(html.contains("<td>7</td>"));
        assert!(!html.contains("<td>3</td>"));
        let mut counts = MonthCounts {
            received: 20,
            ..Default::default()
        };
        counts
            .entered
            .insert(crate::domain::intake::Channel::Letter, 9);
        counts
            .entered
            .insert(crate::domain::intake::Channel::Phone, 2);
        months.insert("2026-11".to_string(), counts);
        let html = numbers_content(Lang::Zh, &months).into_string();
        let november = &html[html.find("numbers-2026-11").unwrap()..];
        let november = &november[..november.find("</table>").unwrap()];
        // One small channel (phone 2) would be 20 - 9 - 9 - 0: no channel is shown.
        for (channel, name) in [
            ("online", "网上举报"),
            ("letter", "来信"),
            ("phone", "来电"),
            ("visit", "来访"),
        ] {
            let row =
                format!(r#"data-channel="{channel}"><th scope="row">{name}</th><td>不公布</td>"#);
            assert!(november.contains(&row), "{november}");
        }
        assert!(!november.contains("<td>9</td>") && !november.contains("<td>少于5</td>"));
        assert!(
            november.contains("<td>20</td>"),
            "the total keeps its own rule"
        );
        // Two small channels (1 and 1, whose sum would give them away): none shown either.
        let mut two = MonthCounts {
            received: 30,
            ..Default::default()
        };
        two.entered.insert(Channel::Letter, 1);
        two.entered.insert(Channel::Phone, 1);
        assert!(channel_cells(Lang::En, &two)
            .iter()
            .all(|(_, cell)| cell == "not shown"));
        // No small channel: every one shown, zeros included.
        two.entered.insert(Channel::Letter, 5);
        two.entered.insert(Channel::Phone, 0);
        assert_eq!(
            channel_cells(Lang::En, &two),
            vec![
                (Channel::Online, "25".to_string()),
                (Channel::Letter, "5".to_string()),
                (Channel::Phone, "0".to_string()),
                (Channel::Visit, "0".to_string()),
            ]
        );
        assert!(numbers_content(Lang::En, &BTreeMap::new())
            .into_string()
            .contains("numbers-none"));
    }
}
