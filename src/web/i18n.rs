//! The residents' languages: Simplified Chinese first, English second. Words live in Fluent
//! resource files (`i18n/*.ftl`), compiled into the binary; the language comes from the URL
//! (`/zh/...`, `/en/...`) or, on `/`, from `Accept-Language`, never from a cookie.

use std::sync::OnceLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource};

use crate::domain::Day;

const ZH_FTL: &str = include_str!("i18n/zh-Hans.ftl");
const EN_FTL: &str = include_str!("i18n/en.ftl");

pub use crate::lang::Lang;

fn bundle(lang: Lang) -> &'static FluentBundle<FluentResource> {
    static BUNDLES: OnceLock<[FluentBundle<FluentResource>; 2]> = OnceLock::new();
    let bundles =
        BUNDLES.get_or_init(|| [make_bundle("zh-Hans", ZH_FTL), make_bundle("en", EN_FTL)]);
    match lang {
        Lang::Zh => &bundles[0],
        Lang::En => &bundles[1],
    }
}

fn make_bundle(locale: &str, source: &'static str) -> FluentBundle<FluentResource> {
    let resource = FluentResource::try_new(source.to_owned()).expect("our .ftl files parse");
    let mut bundle = FluentBundle::new_concurrent(vec![locale.parse().expect("a valid locale")]);
    // Isolation marks (U+2068/U+2069) would end up inside HTML attributes and receipts.
    bundle.set_use_isolating(false);
    bundle
        .add_resource(resource)
        .expect("no duplicate messages");
    bundle
}

/// The text of message `id`; a missing message shows its id, so it is noticed, not hidden.
pub fn t(lang: Lang, id: &str) -> String {
    t_args(lang, id, &[])
}

/// The text of message `id` with arguments.
pub fn t_args(lang: Lang, id: &str, args: &[(&str, String)]) -> String {
    let bundle = bundle(lang);
    let Some(pattern) = bundle.get_message(id).and_then(|m| m.value()) else {
        return id.to_owned();
    };
    let mut fargs = FluentArgs::new();
    for (k, v) in args {
        fargs.set(*k, v.clone());
    }
    let mut errors = vec![];
    bundle
        .format_pattern(pattern, Some(&fargs), &mut errors)
        .into_owned()
}

/// A day as residents read it: "2026年11月28日", "28 November 2026".
pub fn date(lang: Lang, day: Day) -> String {
    let text = day.to_string();
    let mut parts = text.split('-');
    let (y, m, d) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    let month: u8 = m.parse().unwrap_or(1);
    let day_num: u8 = d.parse().unwrap_or(1);
    let month_name = time::Month::try_from(month)
        .map(|m| m.to_string())
        .unwrap_or_default();
    t_args(
        lang,
        "date",
        &[
            ("year", y.to_owned()),
            ("month", month.to_string()),
            ("day", day_num.to_string()),
            ("monthname", month_name),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(source: &str) -> Vec<String> {
        source
            .lines()
            .filter(|l| !l.starts_with(' ') && !l.starts_with('#'))
            .filter_map(|l| l.split_once(" = ").map(|(id, _)| id.to_owned()))
            .collect()
    }

    #[test]
    fn both_languages_have_the_same_messages() {
        let (zh, en) = (ids(ZH_FTL), ids(EN_FTL));
        assert!(zh.len() > 50);
        assert_eq!(zh, en);
        for id in &zh {
            assert_ne!(t(Lang::Zh, id), *id);
            assert_ne!(t(Lang::En, id), *id);
        }
    }

    #[test]
    fn accept_language_picks_the_best_of_ours() {
        assert_eq!(Lang::from_accept_language(None), Lang::Zh);
        assert_eq!(Lang::from_accept_language(Some("en-US,en;q=0.9")), Lang::En);
        assert_eq!(
            Lang::from_accept_language(Some("zh-CN,zh;q=0.9,en;q=0.8")),
            Lang::Zh
        );
        assert_eq!(
            Lang::from_accept_language(Some("fr, en;q=0.5, zh;q=0.7")),
            Lang::Zh
        );
        assert_eq!(Lang::from_accept_language(Some("de")), Lang::Zh);
    }

    #[test]
    fn dates_read_naturally() {
        let day: Day = "2026-05-03".parse().unwrap();
        assert_eq!(date(Lang::Zh, day), "2026年5月3日");
        assert_eq!(date(Lang::En, day), "3 May 2026");
    }
}
