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
    let this_month = crate::store::month_of(crate::domain::Day::today());
    months.retain(|month, _| *month < this_month);
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
/// when exactly one of them is hidden (1 to 4) and the total is shown, it could be worked out
/// by subtraction: the smallest of the others is then held back too ("not shown").
fn channel_cells(l: Lang, counts: &MonthCounts) -> Vec<(Channel, String)> {
    let cells: Vec<(Channel, u64)> = counts.by_channel().into_iter().collect();
    let few = |n: u64| (1..=4).contains(&n);
    let hidden = cells.iter().filter(|(_, n)| few(*n)).count();
    let withheld = (hidden == 1 && !few(counts.received))
        .then(|| {
            cells
                .iter()
                .filter(|(_, n)| !few(*n))
                .min_by_key(|(_, n)| *n)
                .map(|(c, _)| *c)
        })
        .flatten();
    cells
        .into_iter()
        .map(|(c, n)| match withheld == Some(c) {
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
        assert!(
            html.contains(r#"data-channel="online"><th scope="row">网上举报</th><td>9</td>"#),
            "{html}"
        );
        assert!(html.contains(r#"data-channel="letter"><th scope="row">来信</th><td>9</td>"#));
        assert!(html.contains(r#"data-channel="phone"><th scope="row">来电</th><td>少于5</td>"#));
        // Phone alone hidden would be 20 - 9 - 9 - 0: the smallest other count is held back.
        assert!(html.contains(r#"data-channel="visit"><th scope="row">来访</th><td>不公布</td>"#));
        // Two small counts hide each other; nothing more is held back.
        let mut two = MonthCounts {
            received: 30,
            ..Default::default()
        };
        two.entered.insert(Channel::Letter, 3);
        two.entered.insert(Channel::Phone, 2);
        two.entered.insert(Channel::Visit, 6);
        let cells = channel_cells(Lang::En, &two);
        assert_eq!(
            cells,
            vec![
                (Channel::Online, "19".to_string()),
                (Channel::Letter, "fewer than 5".to_string()),
                (Channel::Phone, "fewer than 5".to_string()),
                (Channel::Visit, "6".to_string()),
            ]
        );
        // No small count: everything shown.
        two.entered.insert(Channel::Letter, 5);
        two.entered.insert(Channel::Phone, 0);
        assert!(channel_cells(Lang::En, &two)
            .iter()
            .all(|(_, cell)| cell.parse::<u64>().is_ok()));
        assert!(numbers_content(Lang::En, &BTreeMap::new())
            .into_string()
            .contains("numbers-none"));
    }
}
