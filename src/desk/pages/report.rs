//! The reports page (the monthly meeting sheet and the quarterly report, printable) and its
//! CSV. The counting is in `desk::report`; this file only puts words around the numbers.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

use super::{colour_chip, colour_words, layout, status_words, Menu, Page};
use crate::desk::report::{
    choose_period, section_sum, Channel, Counts, Dimension, Key, Period, PeriodError, Report,
    Route, Span,
};
use crate::desk::{DeskData, DeskError};
use crate::domain::Day;
use crate::lang::Lang;

/// Months and quarters offered in the period picker (earlier ones are a "previous" link
/// away, or typed into the URL).
const PICK_MONTHS: usize = 24;
const PICK_QUARTERS: usize = 8;

/// The query of the page and of the CSV.
#[derive(Debug, Default, Deserialize)]
pub struct ReportQuery {
    /// `YYYY-MM` or `YYYY-Qn`; empty: the current month.
    #[serde(default)]
    period: String,
    /// The CSV's language, `zh` (the default) or `en`; the page takes it from its path.
    #[serde(default)]
    lang: String,
}

fn period_of(query: &ReportQuery, today: Day) -> Result<Period, DeskError> {
    choose_period(&query.period, today).map_err(|e: PeriodError| DeskError::Form(e.to_string()))
}

/// `GET /{lang}/report?period=2026-11`.
pub async fn page(
    desk: DeskData,
    lang: web::Path<String>,
    query: web::Query<ReportQuery>,
) -> Result<HttpResponse, DeskError> {
    let l = super::lang(&lang)?;
    let today = desk.today();
    let period = period_of(&query, today)?;
    let markup = desk.with_open(|open| {
        let report = Report::compute(&open.ledger, period, today);
        Ok(report_markup(&report, &open.office_name, l, today))
    })?;
    Ok(super::html(StatusCode::OK, markup))
}

/// `GET /report.csv?period=2026-11&lang=zh`.
pub async fn csv(
    desk: DeskData,
    query: web::Query<ReportQuery>,
) -> Result<HttpResponse, DeskError> {
    let l = match query.lang.as_str() {
        "" => Lang::Zh,
        code => Lang::from_code(code)
            .ok_or_else(|| DeskError::Form("the language is zh or en".into()))?,
    };
    let today = desk.today();
    let period = period_of(&query, today)?;
    let body = desk.with_open(|open| {
        let report = Report::compute(&open.ledger, period, today);
        Ok(
            report.to_csv(&open.office_name, l.pick("合计", "Total"), |k| {
                key_words(l, k)
            }),
        )
    })?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"whistlebox-report-{period}.csv\""),
        ))
        .body(body))
}

/// The words for a period: "2026年11月", "November 2026", "2026年第四季度", "Q4 2026".
fn period_words(l: Lang, p: Period) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    const QUARTERS: [&str; 4] = ["一", "二", "三", "四"];
    let y = p.year();
    match (l, p.span()) {
        (Lang::Zh, Span::Month(m)) => format!("{y}年{m}月"),
        (Lang::En, Span::Month(m)) => format!("{} {y}", MONTHS[usize::from(m) - 1]),
        (Lang::Zh, Span::Quarter(q)) => format!("{y}年第{}季度", QUARTERS[usize::from(q) - 1]),
        (Lang::En, Span::Quarter(q)) => format!("Q{q} {y}"),
    }
}

/// The sheet's name: 月调度表 for a month, 季通报 for a quarter.
fn sheet_title(l: Lang, p: Period) -> String {
    match (l, p.span()) {
        (Lang::Zh, Span::Month(_)) => format!("{} 月调度表", period_words(l, p)),
        (Lang::Zh, Span::Quarter(_)) => format!("{} 季通报", period_words(l, p)),
        (Lang::En, Span::Month(_)) => format!("Monthly meeting sheet, {}", period_words(l, p)),
        (Lang::En, Span::Quarter(_)) => format!("Quarterly report, {}", period_words(l, p)),
    }
}

/// The words for one line of a breakdown (also the CSV's `label`).
fn key_words(l: Lang, key: &Key) -> String {
    match key {
        Key::Topic(Some(t)) => t.clone(),
        Key::Topic(None) => l.pick("未分主题", "no topic").into(),
        Key::Colour(c) => colour_words(l, *c).into(),
        Key::Status(s) => status_words(l, *s).into(),
        Key::Supervised(true) => l.pick("挂牌督办", "under supervision").into(),
        Key::Supervised(false) => l.pick("未挂牌督办", "not under supervision").into(),
        Key::Route(Route::Chosen) => l.pick("群众选择本单位", "chosen by the resident").into(),
        Key::Route(Route::MovedIn) => l
            .pick("其他单位移来", "moved here by another office")
            .into(),
        Key::Channel(c) => match c {
            Channel::Online => l.pick("网上举报", "online"),
            Channel::Letter => l.pick("来信", "letter"),
            Channel::Phone => l.pick("来电", "phone call"),
            Channel::Visit => l.pick("来访", "visit"),
        }
        .into(),
    }
}

/// A breakdown's caption and the heading of its first column.
fn dimension_words(l: Lang, d: Dimension) -> (&'static str, &'static str) {
    match d {
        Dimension::Topic => (l.pick("按主题", "By topic"), l.pick("主题", "Topic")),
        Dimension::Colour => (
            l.pick("按分级（红黄蓝）", "By colour"),
            l.pick("分级", "Colour"),
        ),
        Dimension::Status => (
            l.pick("按现在的办理状态", "By status, as it is now"),
            l.pick("状态", "Status"),
        ),
        Dimension::Supervised => (
            l.pick("按是否挂牌督办", "By supervision"),
            l.pick("督办", "Supervision"),
        ),
        Dimension::Route => (
            l.pick("按线索来源", "By how the case came to this office"),
            l.pick("来源", "Came"),
        ),
        Dimension::Channel => (
            l.pick(
                "按举报方式（网上、来信、来电、来访）",
                "By channel (online, letter, phone, visit)",
            ),
            l.pick("方式", "Channel"),
        ),
    }
}

fn report_link(l: Lang, p: Period) -> String {
    format!("/{}/report?period={p}", l.code())
}

/// The periods of the picker: the recent months and quarters, and the one shown.
fn picker(l: Lang, shown: Period, today: Day) -> Markup {
    let back = |from: Period, n: usize| -> Vec<Period> {
        std::iter::successors(Some(from), |p| p.previous())
            .take(n)
            .collect()
    };
    let this_month = Period::containing(today);
    let months = back(this_month, PICK_MONTHS);
    let quarters = back(this_month.quarter_of(), PICK_QUARTERS);
    let listed = months.contains(&shown) || quarters.contains(&shown);
    let opt = |p: &Period| {
        html! { option value=(p) selected[*p == shown] { (period_words(l, *p)) } }
    };
    html! {
        form.period autocomplete="off" method="get" action={ "/" (l.code()) "/report" } {
            label for="period" { (l.pick("统计期间", "Period")) }
            select #period name="period" {
                @if !listed { (opt(&shown)) }
                optgroup label=(l.pick("月调度（按月）", "Months (meeting sheet)")) {
                    @for p in &months { (opt(p)) }
                }
                optgroup label=(l.pick("季通报（按季度）", "Quarters (report)")) {
                    @for p in &quarters { (opt(p)) }
                }
            }
            " "
            button type="submit" { (l.pick("查看", "Show")) }
        }
    }
}

fn counts_cells(c: &Counts) -> Markup {
    html! {
        td.num { (c.new) }
        td.num { (c.closed) }
        td.num { (c.open) }
        td.num { (c.overdue) }
    }
}

fn count_heads(l: Lang, first: &str) -> Markup {
    html! {
        thead { tr {
            th scope="col" { (first) }
            th.num scope="col" { (l.pick("本期新收", "New")) }
            th.num scope="col" { (l.pick("本期办结", "Closed")) }
            th.num scope="col" { (l.pick("期末在办", "Open at the end")) }
            th.num scope="col" { (l.pick("其中超期", "of which overdue")) }
        } }
    }
}

fn section_table(l: Lang, report: &Report, d: Dimension) -> Markup {
    let Some(section) = report.sections.iter().find(|s| s.dimension == d) else {
        return html! {};
    };
    let (caption, first) = dimension_words(l, d);
    html! {
        table.report id={ "by-" (d.code()) } {
            caption { (caption) }
            (count_heads(l, first))
            tbody {
                @for row in &section.rows {
                    tr {
                        th scope="row" {
                            @if let Key::Colour(c) = row.key { (colour_chip(l, c)) }
                            @else { (key_words(l, &row.key)) }
                        }
                        (counts_cells(&row.counts))
                    }
                }
            }
            tfoot { tr { th scope="row" { (l.pick("合计", "Total")) } (counts_cells(&section_sum(section))) } }
        }
    }
}

/// The report page (public in the crate for the tests).
pub(crate) fn report_markup(report: &Report, office: &str, l: Lang, today: Day) -> Markup {
    let p = report.period;
    let running = report.as_of < p.last();
    let next = p.next().filter(|n| n.first() <= today);
    let content = html! {
        h1 { (sheet_title(l, p)) }
        p.report-head {
            strong #report-office { (office) } br;
            (l.pick("统计期间 ", "Period: ")) (p.first()) (l.pick(" 至 ", " to ")) (p.last())
            (l.pick("；统计至 ", "; counted up to ")) strong #as-of { (report.as_of) }
            @if running { (l.pick("（本期尚未结束）", " (the period is still running)")) }
            br;
            (l.pick("制表日期 ", "Made on ")) (today)
        }
        div.noprint {
            (picker(l, p, today))
            nav.periods aria-label=(l.pick("其他期间", "Other periods")) {
                @if let Some(prev) = p.previous() {
                    a rel="prev" href=(report_link(l, prev)) { "← " (period_words(l, prev)) }
                }
                @if let Some(next) = next {
                    a rel="next" href=(report_link(l, next)) { (period_words(l, next)) " →" }
                }
                @match p.span() {
                    Span::Month(_) => {
                        a href=(report_link(l, p.quarter_of())) { (l.pick("所在季度：", "Its quarter: ")) (period_words(l, p.quarter_of())) }
                    }
                    Span::Quarter(_) => {
                        @for m in p.month_list().into_iter().filter(|m| m.first() <= today) {
                            a href=(report_link(l, m)) { (period_words(l, m)) }
                        }
                    }
                }
                a #csv href={ "/report.csv?period=" (p) "&lang=" (l.code()) } download {
                    (l.pick("下载 CSV（可用 Excel 打开）", "Download the CSV (opens in Excel)"))
                }
            }
            p.hint { (l.pick("打印：按 Ctrl+P。菜单、表单和链接不会打印出来。", "To print: Ctrl+P. The menu, the forms and the links are left out of the print.")) }
        }
        table.report #totals {
            caption { (l.pick("合计", "Totals")) }
            (count_heads(l, ""))
            tbody { tr { th scope="row" { (l.pick("全部线索", "All cases")) } (counts_cells(&report.totals)) } }
        }
        @for d in Dimension::ALL { (section_table(l, report, d)) }
        p.hint.report-notes {
            (l.pick(
                "新收按服务器收到之日计；办结按最近一次办结（含移交）之日计；期末在办和超期按统计截止日计，时限按现在的设置。各线索按现在的主题、分级、状态和督办情况分组。本表只有件数，不含任何举报内容、补充、备注、标签、承办人或线索编号。",
                "New: by the day the server received the case. Closed: by the day it was last closed or referred. Open and overdue: on the day counted up to, with the deadlines as they are set now. Each case is counted under its topic, colour, status and supervision as they are now. Counts only: no words of any report, no follow-ups, notes, tags, inspectors or case numbers."
            ))
        }
    };
    let path = format!("/report?period={p}");
    layout(
        Page {
            lang: l,
            title: sheet_title(l, p),
            path: &path,
            office,
            menu: Menu::Report,
        },
        content,
    )
}

#[cfg(test)]
mod tests {
    use actix_web::http::header;
    use actix_web::{test, App};

    use super::*;
    use crate::desk::ledger::sample_case;
    use crate::desk::{Desk, DeskConfig};
    use crate::domain::keys::SecretKeys;

    fn day(s: &str) -> Day {
        s.parse().unwrap()
    }

    /// A desk unlocked on a fresh workspace, with two cases in memory.
    fn desk(dir: &std::path::Path) -> Desk {
        crate::crypto::init().unwrap();
        let desk = Desk::new(DeskConfig {
            key_path: dir.join("inspectors.key"),
            key_text: Default::default(),
            workspace: dir.join("workspace"),
            outbox: dir.join("outbox"),
            bind: "127.0.0.1:0".parse().unwrap(),
            directory: None,
            root: None,
            today: Some(day("2026-12-10")),
        });
        desk.unlock_with(SecretKeys::generate()).unwrap();
        desk.with_open(|open| {
            for (i, received) in [(1, "2026-11-03"), (2, "2026-12-02")] {
                let mut c = sample_case(i);
                c.received_on = day(received);
                c.tags.insert("张三家".into());
                c.assignee = Some("李科长".into());
                c.topic = Some(open.ledger.settings.topics[0].clone());
                open.ledger.cases.insert(c.id, c);
            }
            Ok(())
        })
        .unwrap();
        desk
    }

    async fn get(desk: &web::Data<Desk>, uri: &str) -> (StatusCode, String, Vec<u8>) {
        let app = test::init_service(
            App::new()
                .app_data(desk.clone())
                .configure(super::super::routes),
        )
        .await;
        let res = test::call_service(&app, test::TestRequest::get().uri(uri).to_request()).await;
        let status = res.status();
        let disposition = res
            .headers()
            .get(header::CONTENT_DISPOSITION)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let ctype = res
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = test::read_body(res).await.to_vec();
        (status, format!("{ctype}|{disposition}"), body)
    }

    #[actix_web::test]
    async fn the_page_shows_counts_and_nothing_of_the_cases() {
        let dir = tempfile::tempdir().unwrap();
        let desk = web::Data::new(desk(dir.path()));
        let (status, _, body) = get(&desk, "/zh/report?period=2026-11").await;
        assert_eq!(status, StatusCode::OK);
        let page = String::from_utf8(body).unwrap();
        assert!(page.contains("2026年11月 月调度表"));
        assert!(page.contains("统计至 <strong id=\"as-of\">2026-11-30</strong>"));
        assert!(page.contains("href=\"/report.csv?period=2026-11&amp;lang=zh\""));
        assert!(page.contains("rel=\"next\" href=\"/zh/report?period=2026-12\""));
        assert!(page.contains("<caption>按主题</caption>"));
        for secret in [
            "低保",
            "张三",
            "李科长",
            "0101010101010101",
            "0202020202020202",
        ] {
            assert!(!page.contains(secret), "{secret}");
        }

        // The running month: counted to today, and no link to a month to come.
        let (_, _, body) = get(&desk, "/en/report").await;
        let page = String::from_utf8(body).unwrap();
        assert!(page.contains("Monthly meeting sheet, December 2026"));
        assert!(page.contains("the period is still running"));
        assert!(!page.contains("rel=\"next\""));
        let (_, _, body) = get(&desk, "/en/report?period=2026-Q4").await;
        let page = String::from_utf8(body).unwrap();
        assert!(page.contains("Quarterly report, Q4 2026"));
        assert!(page.contains("href=\"/en/report?period=2026-11\""));
    }

    #[actix_web::test]
    async fn a_bad_period_or_language_is_a_plain_400() {
        let dir = tempfile::tempdir().unwrap();
        let desk = web::Data::new(desk(dir.path()));
        for uri in [
            "/zh/report?period=2026-13",
            "/en/report?period=2027-01",
            "/report.csv?period=Q4",
            "/report.csv?period=2026-11&lang=fr",
        ] {
            let (status, _, body) = get(&desk, uri).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
            assert!(String::from_utf8(body).unwrap().contains("role=\"alert\""));
        }
    }

    #[actix_web::test]
    async fn the_csv_is_an_attachment_with_a_byte_order_mark() {
        let dir = tempfile::tempdir().unwrap();
        let desk = web::Data::new(desk(dir.path()));
        let (status, head, body) = get(&desk, "/report.csv?period=2026-Q4&lang=en").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            head,
            "text/csv; charset=utf-8|attachment; filename=\"whistlebox-report-2026-Q4.csv\""
        );
        assert!(body.starts_with("\u{feff}office,".as_bytes()));
        let text = String::from_utf8(body).unwrap();
        assert!(text.contains(",2026-Q4,2026-10-01,2026-12-31,2026-12-10,total,all,Total,2,0,2,"));
        assert!(text.contains(",colour,none,not triaged,2,0,2,"));
        for secret in ["低保", "张三", "李科长", "0101010101010101"] {
            assert!(!text.contains(secret), "{secret}");
        }
        let (_, _, zh) = get(&desk, "/report.csv").await;
        assert!(String::from_utf8(zh)
            .unwrap()
            .contains(",2026-12,2026-12-01,2026-12-31,2026-12-10,total,all,合计,1,0,2,"));
    }
}
