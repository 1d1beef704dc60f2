//! The inspectors' desk at the size of a busy county: an export bundle of 10,000 tips
//! (Chinese words of a few hundred characters, some optional answers, a reply key bound in
//! each, a follow-up on every fifth), imported into a fresh workspace; then the workspace
//! opened again, and the inbox rendered at that size (the first page, sorted by colour, a
//! Chinese and a Latin-letter search over every case, the overdue filter), and the quarterly
//! report counted. Prints Markdown table rows, like the other benches. A benchmark, not a
//! test: nothing asserts a time.
//!
//! `cargo bench --bench desk` runs 10,000 tips (about ten seconds once built);
//! `DESK_TIPS=2000` sets another count. Under `cargo test` it runs 200 tips, as a check that
//! it still works.

use std::path::Path;
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use whistlebox::bundle::{export_entry, export_head, EXPORT_TAIL};
use whistlebox::crypto::{self, BoxSecretKey, Sealer, SignSecretKey};
use whistlebox::desk::ledger::Colour;
use whistlebox::desk::pages::{inbox_markup, InboxQuery};
use whistlebox::desk::report::{Period, Report};
use whistlebox::desk::{Desk, DeskConfig};
use whistlebox::domain::followup::authenticate_for;
use whistlebox::domain::held::{Followup, StoredTip};
use whistlebox::domain::keys::SecretKeys;
use whistlebox::domain::office::DEFAULT_ROOT_ID;
use whistlebox::domain::tip::TipPlaintext;
use whistlebox::domain::{Day, Status, TipId};
use whistlebox::lang::Lang;

/// Renders of each inbox page; the median is printed.
const RUNS: usize = 9;
/// The day the desk takes as today.
const TODAY: &str = "2026-11-29";

/// A small deterministic generator (xorshift64*), so that every run sees the same tips.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

const PLACES: &[&str] = &[
    "东坪村",
    "石桥村",
    "柳树湾村",
    "新民社区",
    "河口村",
    "上寨村",
    "青山村",
    "红星村",
    "白沙镇",
    "城关镇",
    "太平乡",
    "龙潭村",
];
const WHO: &[&str] = &[
    "村支书",
    "村主任",
    "村会计",
    "镇上的一位干部",
    "驻村工作队的人",
    "合作社负责人",
    "卫生院的人",
    "学校的领导",
];
const SENTENCES: &[&str] = &[
    "今年的低保名单里有好几户家里条件很好，有车有楼房，真正困难的老人却没有评上。",
    "村里修路的工程款说是三十万，实际只铺了一层薄薄的水泥，不到半年就裂开了。",
    "危房改造的补贴发下来以后，有一部分被扣下了，说是要交管理费，没有任何收据。",
    "合作社每年的分红账目从来不公开，问起来就说还在算，已经三年了。",
    "耕地地力保护补贴打到了别人的卡上，我们去问，镇上说是系统录错了，到现在也没改。",
    "去年秋天征地的补偿款，每亩比文件上的标准少了两千多元。",
    "学校食堂的饭菜很差，家长们凑钱交的伙食费不知道用到哪里去了。",
    "卫生院看病要先交一笔钱才给开药，开的发票金额和实际交的不一样。",
    "村里开会选代表，名单是事先定好的，很多村民根本不知道有这个会。",
    "养老保险的钱代收以后没有交上去，老人到了年龄领不到养老金。",
    "河边的砂石场晚上偷偷开工，拉砂的车把路压坏了，村民举报过好几次都没人管。",
    "扶贫产业项目的钱拨下来了，买的牛羊只拍了照片就被拉走卖掉了。",
    "村集体的鱼塘承包给了亲戚，承包费比市场价低很多，也没有公开招标。",
    "办事的时候要请吃饭送烟才给盖章，不送就一直拖着。",
    "这些情况我们反映过，但是没有回音，希望上级能来查一查。",
    "具体的账本在村委会的柜子里，会计知道放在哪里。",
    "我说的都是真实情况，可以去问附近的村民，大家都知道。",
    "因为怕被报复，所以不敢实名，请保护好我们的信息。",
];
const TAGS: &[&str] = &[
    "低保",
    "工程",
    "补贴",
    "征地",
    "集体资产",
    "医疗",
    "教育",
    "环保",
    "多次反映",
    "重点村",
];
const INSPECTORS: &[&str] = &[
    "王科长",
    "李明",
    "张晓红",
    "陈主任",
    "刘强",
    "赵敏",
    "周杰",
    "孙丽",
];

fn body(rng: &mut Rng) -> String {
    let target = 200 + rng.below(400);
    let mut text = format!("我要反映{}的{}。", rng.pick(PLACES), rng.pick(WHO));
    while text.chars().count() < target {
        text.push_str(rng.pick(SENTENCES));
    }
    text
}

fn tip_plaintext(rng: &mut Rng, reply: &BoxSecretKey) -> TipPlaintext {
    let mut tip = TipPlaintext::new(body(rng));
    tip.bind_reply_key(&reply.public_key());
    if rng.chance(60) {
        tip.fields
            .insert("place".into(), format!("{}附近", rng.pick(PLACES)).into());
    }
    if rng.chance(40) {
        tip.fields.insert(
            "when".into(),
            format!("2026年{}月", 1 + rng.below(11)).into(),
        );
    }
    if rng.chance(30) {
        tip.fields.insert(
            "amount".into(),
            format!("约{}万元", 1 + rng.below(50)).into(),
        );
    }
    if rng.chance(20) {
        tip.fields.insert("who".into(), rng.pick(WHO).into());
    }
    tip
}

/// An export bundle of `n` tips sealed to `office`; every fifth with a follow-up.
fn make_bundle(n: usize, office: &crypto::BoxPublicKey, today: Day, rng: &mut Rng) -> Vec<u8> {
    let county = DEFAULT_ROOT_ID.parse().expect("a valid id");
    let mut out = export_head(today, &county, n);
    for i in 0..n {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&rng.next().to_le_bytes());
        let reply = BoxSecretKey::from_seed(&seed);
        let sealed = tip_plaintext(rng, &reply)
            .seal_to(std::slice::from_ref(office))
            .expect("seals");
        let day = Day(today.0 - rng.below(540) as u32);
        let mut followups = Vec::new();
        if i % 5 == 0 {
            let inner = TipPlaintext::new(format!(
                "补充一下：{}",
                SENTENCES[rng.below(SENTENCES.len())]
            ))
            .seal_to(std::slice::from_ref(office))
            .expect("seals");
            followups.push(Followup {
                n: 1,
                day: Day((day.0 + 3).min(today.0)),
                sealed: authenticate_for(&inner, &reply, std::slice::from_ref(office), usize::MAX)
                    .expect("envelope"),
                attachments: Vec::new(),
            });
        }
        let tip = StoredTip {
            id: TipId(rng.next().to_le_bytes()),
            day,
            status: Status::Received,
            sealed: Some(sealed),
            grant: None,
            sealed_reply_key: Some(office.seal(reply.public_key().as_bytes())),
            followups,
            attachments: Vec::new(),
        };
        out.extend_from_slice(&export_entry(i == 0, &tip));
    }
    out.extend_from_slice(EXPORT_TAIL);
    out
}

/// The office's work on the cases, as months of it would leave them: most triaged, tags
/// and an inspector on many, answers on most, a third closed.
fn triage(desk: &Desk, today: Day, rng: &mut Rng) {
    desk.with_open(|open| {
        let topics = open.ledger.settings.topics.clone();
        for case in open.ledger.cases.values_mut() {
            if rng.chance(75) {
                case.colour = Some(Colour::ALL[rng.below(3)]);
                case.topic = Some(topics[rng.below(topics.len())].clone());
            }
            for _ in 0..rng.below(3) {
                case.tags.insert(rng.pick(TAGS).into());
            }
            if rng.chance(70) {
                case.assignee = Some(rng.pick(INSPECTORS).into());
            }
            case.supervised = rng.chance(5);
            let age = today.0 - case.received_on.0;
            if age >= 2 && rng.chance(80) {
                let day = Day(case.received_on.0 + 1 + rng.below(2) as u32);
                case.queue_answer(Status::InReview, "", day)
                    .expect("answer");
                if rng.chance(40) {
                    let day = Day(case.received_on.0 + 2 + rng.below(age as usize - 1) as u32);
                    let status = [
                        Status::ClosedSubstantiated,
                        Status::ClosedUnsubstantiated,
                        Status::Referred,
                    ][rng.below(3)];
                    case.queue_answer(status, "", day).expect("answer");
                }
            }
            if rng.chance(10) {
                case.add_note(
                    rng.pick(INSPECTORS),
                    "已电话联系，约定下周实地核查。",
                    today,
                )
                .expect("note");
            }
        }
        let cases: Vec<_> = open.ledger.cases.values().cloned().collect();
        open.workspace.save_cases(cases.iter())?;
        Ok(())
    })
    .expect("triage saved");
}

fn copy_keys(keys: &SecretKeys) -> SecretKeys {
    SecretKeys {
        box_key: BoxSecretKey::from_bytes(keys.box_key.expose_bytes()).expect("key"),
        sign_key: SignSecretKey::from_seed_bytes(keys.sign_key.expose_seed()).expect("key"),
        office: None,
    }
}

fn folder_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Peak resident memory of this process, from /proc.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// The median time of `RUNS` calls of `f`, and what the last call returned.
fn median<T>(mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut times = Vec::with_capacity(RUNS);
    let mut last = None;
    for _ in 0..RUNS {
        let start = Instant::now();
        last = Some(f());
        times.push(start.elapsed());
    }
    times.sort();
    (times[RUNS / 2], last.expect("at least one run"))
}

fn main() {
    crypto::init().expect("libsodium starts");
    let full = std::env::args().any(|a| a == "--bench");
    let n: usize = std::env::var("DESK_TIPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 10_000 } else { 200 });
    let today: Day = TODAY.parse().expect("a day");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let keys = SecretKeys::generate();
    let office = keys.public_keys().box_key;

    let start = Instant::now();
    let bundle = make_bundle(n, &office, today, &mut rng);
    println!(
        "| desk: sealing {n} tips into an export bundle | {:.1} s, {} |",
        start.elapsed().as_secs_f64(),
        mib(bundle.len() as u64)
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let workspace = dir.path().join("workspace");
    let desk = Desk::new(DeskConfig {
        key_path: dir.path().join("inspectors.key"),
        key_text: Zeroizing::new(String::new()),
        workspace: workspace.clone(),
        outbox: dir.path().join("outbox"),
        bind: "127.0.0.1:0".parse().expect("an address"),
        directory: None,
        root: None,
        today: Some(today),
    });
    desk.unlock_with(copy_keys(&keys)).expect("unlocks");
    let start = Instant::now();
    let report = desk.import(&bundle).expect("imports");
    let took = start.elapsed();
    assert_eq!(report.new_cases, n, "every tip opened");
    assert!(report.refused.is_empty());
    println!(
        "| desk: import of {n} tips ({} follow-ups) | {:.2} s; workspace {} |",
        report.new_followups,
        took.as_secs_f64(),
        mib(folder_bytes(&workspace))
    );
    drop(bundle);

    triage(&desk, today, &mut rng);
    println!(
        "| desk: workspace after triage of every case (one more record each) | {} |",
        mib(folder_bytes(&workspace))
    );
    // Lock and unlock: the keys forgotten, the log read, decrypted and replayed again.
    let reopen: Vec<String> = (0..3)
        .map(|_| {
            desk.lock();
            let start = Instant::now();
            desk.unlock_with(copy_keys(&keys)).expect("unlocks");
            format!("{:.2} s", start.elapsed().as_secs_f64())
        })
        .collect();
    println!(
        "| desk: re-open (replay the log of {n} cases), three times | {}; workspace {} |",
        reopen.join(", "),
        mib(folder_bytes(&workspace))
    );

    let queries = [
        (
            "first page (open cases, newest first)",
            InboxQuery::default(),
        ),
        (
            "sorted by colour",
            InboxQuery {
                sort: "colour".into(),
                ..Default::default()
            },
        ),
        (
            "search 危房改造 in every case",
            InboxQuery {
                q: "危房改造".into(),
                state: "all".into(),
                ..Default::default()
            },
        ),
        (
            "search WeChat (letters: case folded) in every case",
            InboxQuery {
                q: "WeChat".into(),
                state: "all".into(),
                ..Default::default()
            },
        ),
        (
            "overdue only",
            InboxQuery {
                overdue: "1".into(),
                ..Default::default()
            },
        ),
    ];
    for (what, query) in &queries {
        let (took, html) = desk
            .with_open(|open| {
                Ok(median(|| {
                    inbox_markup(open, query, Lang::Zh, today).into_string()
                }))
            })
            .expect("open");
        println!(
            "| desk: inbox of {n}, {what} | {} (median of {RUNS}); {:.0} KiB of HTML |",
            ms(took),
            html.len() as f64 / 1024.0
        );
    }
    let quarter: Period = "2026-Q4".parse().expect("a period");
    let (took, counted) = desk
        .with_open(|open| {
            Ok(median(|| {
                Report::compute(&open.ledger, quarter, today).totals
            }))
        })
        .expect("open");
    println!(
        "| desk: quarterly report of {n} | {} (median of {RUNS}); \
         {} new, {} closed, {} open, {} overdue |",
        ms(took),
        counted.new,
        counted.closed,
        counted.open,
        counted.overdue
    );
    println!("| desk: peak resident memory | {:.0} MiB |", peak_rss_mib());
}
