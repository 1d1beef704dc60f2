//! The case page: the resident's words and follow-ups, the answers sent, the office's
//! triage, notes and history, and the forms that change them.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

use super::files::{files_markup, kind_words};
use super::{colour_chip, layout, see_other, status_words, Menu, Page};
use crate::desk::ledger::{AnswerState, Case, Colour, EventKind, Settings, Triage, TriageForm};
use crate::desk::{DeskData, DeskError, Open};
use crate::domain::office::{Directory, OfficeId};
use crate::domain::{Day, Status, TipId};
use crate::lang::Lang;

fn parse_id(raw: &str) -> Result<TipId, DeskError> {
    raw.parse().map_err(|_| DeskError::NoCase)
}

/// `GET /{lang}/case/{id}`.
pub async fn page(
    desk: DeskData,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, DeskError> {
    let l = super::lang(&path.0)?;
    let id = parse_id(&path.1)?;
    let today = desk.today();
    let markup = desk.with_open(|open| {
        let case = open.ledger.cases.get(&id).ok_or(DeskError::NoCase)?;
        Ok(case_markup(open, case, l, today))
    })?;
    Ok(super::html(StatusCode::OK, markup))
}

/// Runs `change` on the case and saves it; then back to the case page.
fn edit(
    desk: &DeskData,
    path: &(String, String),
    change: impl FnOnce(&mut Case, &Settings, Day) -> Result<bool, DeskError>,
) -> Result<HttpResponse, DeskError> {
    let l = super::lang(&path.0)?;
    let id = parse_id(&path.1)?;
    let today = desk.today();
    desk.with_open(|open| {
        let settings = open.ledger.settings.clone();
        let case = open.ledger.cases.get_mut(&id).ok_or(DeskError::NoCase)?;
        let before = case.clone();
        let changed = change(case, &settings, today)?;
        if changed {
            if let Err(e) = open.workspace.save_cases([&*case]) {
                // Not saved: memory goes back to what the workspace holds.
                *case = before;
                return Err(e.into());
            }
        }
        Ok(())
    })?;
    Ok(see_other(&format!("/{}/case/{id}", l.code())))
}

/// `POST /{lang}/case/{id}/triage`.
pub async fn triage(
    desk: DeskData,
    path: web::Path<(String, String)>,
    form: web::Form<TriageForm>,
) -> Result<HttpResponse, DeskError> {
    edit(&desk, &path, |case, settings, today| {
        let triage = Triage::parse(&form, settings).map_err(|e| DeskError::Form(e.into()))?;
        Ok(triage.apply(case, today))
    })
}

/// The note form.
#[derive(Deserialize)]
pub struct NoteForm {
    #[serde(default)]
    by: String,
    text: String,
}

/// `POST /{lang}/case/{id}/note`.
pub async fn note(
    desk: DeskData,
    path: web::Path<(String, String)>,
    form: web::Form<NoteForm>,
) -> Result<HttpResponse, DeskError> {
    edit(&desk, &path, |case, _, today| {
        case.add_note(&form.by, &form.text, today)
            .map_err(|e| DeskError::Form(e.to_string()))?;
        Ok(true)
    })
}

/// The answer form.
#[derive(Deserialize)]
pub struct AnswerForm {
    status: String,
    #[serde(default)]
    message: String,
}

/// `POST /{lang}/case/{id}/answer`.
pub async fn answer(
    desk: DeskData,
    path: web::Path<(String, String)>,
    form: web::Form<AnswerForm>,
) -> Result<HttpResponse, DeskError> {
    edit(&desk, &path, |case, _, today| {
        let status: Status = form.status.parse().map_err(DeskError::Form)?;
        case.queue_answer(status, &form.message, today)
            .map_err(|e| DeskError::Form(e.to_string()))?;
        Ok(true)
    })
}

/// `POST /{lang}/case/{id}/files/waive`: acknowledge the case without the files that did
/// not come.
pub async fn waive_files(
    desk: DeskData,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, DeskError> {
    edit(&desk, &path, |case, _, today| {
        Ok(case.waive_missing_files(today) > 0)
    })
}

/// `POST /{lang}/case/{id}/withdraw`.
pub async fn withdraw(
    desk: DeskData,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, DeskError> {
    edit(&desk, &path, |case, _, today| {
        Ok(case.withdraw_queued(today))
    })
}

fn case_markup(open: &Open, c: &Case, l: Lang, today: Day) -> Markup {
    let settings = &open.ledger.settings;
    let base = format!("/{}/case/{}", l.code(), c.id);
    let content = html! {
        p { a href={ "/" (l.code()) "/" } { "← " (l.pick("回到收件箱", "Back to the inbox")) } }
        h1 { (l.pick("线索 ", "Case ")) code { (c.id) } }
        dl.facts {
            dt { (l.pick("分级", "Colour")) } dd { (colour_chip(l, c.colour)) @if c.supervised { " " span.supervised { (l.pick("挂牌督办", "under supervision")) } } }
            dt { (l.pick("收到日期", "Received")) } dd { (c.received_on) " (" (c.age(today)) (l.pick(" 天前)", " days ago)")) }
            dt { (l.pick("状态", "Status")) } dd #case-status { (status_words(l, c.status)) }
            @if c.server_status != c.status {
                dt { (l.pick("服务器说的状态", "Status the server gave")) }
                dd #server-status { (status_words(l, c.server_status)) " " span.hint { (l.pick("（导出包里未签名的说法，仅供参考）", "(unsigned, as the export said it; for reference only)")) } }
            }
            dt { (l.pick("回复时限", "Acknowledge by")) } dd { (c.ack_by(settings)) @if !c.acknowledged() && !c.is_closed() && today > c.ack_by(settings) { " " strong.overdue { (l.pick("已超期", "overdue")) } } }
            dt { (l.pick("办结时限", "Answer by")) } dd { (c.answer_by(settings)) @if !c.is_closed() && today > c.answer_by(settings) { " " strong.overdue { (l.pick("已超期", "overdue")) } } }
            @if let Some(t) = &c.topic { dt { (l.pick("主题", "Topic")) } dd { (t) } }
            @if !c.tags.is_empty() { dt { (l.pick("标签", "Tags")) } dd { @for t in &c.tags { span.tag { (t) } " " } } }
            @if let Some(a) = &c.assignee { dt { (l.pick("承办人", "Assigned to")) } dd { (a) } }
        }
        (files_notice(l, c, &base))
        section #words {
            h2 { (l.pick("反映内容", "The report")) }
            div.words { (c.body) }
            @if !c.files.is_empty() {
                section #files {
                    h3 { (l.pick("群众附上的文件", "Files the resident attached")) " (" (c.files.len()) ")" }
                    (files_markup(l, c, None, &c.files))
                }
            }
            @if !c.fields.is_empty() {
                dl.fields {
                    @for (k, v) in &c.fields {
                        dt { (field_words(l, k)) }
                        dd { @match v {
                            serde_json::Value::String(s) if k == "topic" => (resident_topic_words(l, s)),
                            serde_json::Value::String(s) if k == "channel" => (channel_words(l, s)),
                            serde_json::Value::String(s) => (s),
                            other => (other.to_string()),
                        } }
                    }
                }
            }
        }
        @if !c.followups.is_empty() {
            section #followups {
                h2 { (l.pick("群众补充", "Follow-ups from the resident")) }
                @for f in &c.followups {
                    article.followup {
                        h3 { "#" (f.n) " · " (f.day)
                            @if !f.verified { " " strong.warning { (l.pick("未能核实来自回执持有人", "NOT VERIFIED: may not come from the resident")) } }
                        }
                        div.words { (f.body) }
                        @if !f.files.is_empty() {
                            @if !f.verified { p.warning { strong { (l.pick("以下文件也未能核实来自回执持有人。", "NOT VERIFIED: these files may not come from the resident either.")) } } }
                            (files_markup(l, c, Some(f.n), &f.files))
                        }
                    }
                }
            }
        }
        section #answers {
            h2 { (l.pick("给群众的答复", "Answers to the resident")) }
            @if c.answers.is_empty() { p { (l.pick("还没有答复。", "Nothing sent yet.")) } }
            ol.answers {
                @for a in &c.answers {
                    li {
                        (a.day) " · " strong { (status_words(l, a.status)) } " · "
                        @match a.state {
                            AnswerState::Queued => span.queued { (l.pick("待写入U盘", "waiting for the USB stick")) },
                            AnswerState::Written(n) => span { (l.pick("已写入第 ", "in bundle no. ")) (n) (l.pick(" 号包", "")) },
                        }
                        @if let Some(m) = &a.message { div.words { (m) } }
                    }
                }
            }
            @if c.answers.iter().any(|a| a.state == AnswerState::Queued)
                || c.moves.iter().any(|m| m.state == AnswerState::Queued) {
                form autocomplete="off" method="post" action={ (base) "/withdraw" } {
                    button.secondary type="submit" { (l.pick("撤回待发的答复", "Withdraw the answers not yet written")) }
                }
            }
            (answer_form(l, c, &base))
        }
        (triage_form(l, c, settings, &base))
        @if let Some(directory) = &open.directory {
            (move_form(l, c, directory, open.keys.office.as_ref().map(|o| o.id.as_str()), &base))
        }
        section #notes {
            h2 { (l.pick("内部备注（不离开本机）", "Internal notes (never leave this machine)")) }
            @for n in &c.notes {
                article.note { p.hint { (n.day) @if !n.by.is_empty() { " · " (n.by) } } div.words { (n.text) } }
            }
            form autocomplete="off" method="post" action={ (base) "/note" } {
                label for="note-by" { (l.pick("记录人", "Written by")) }
                input #note-by type="text" name="by" maxlength="40";
                label for="note-text" { (l.pick("备注", "Note")) }
                textarea #note-text name="text" required {}
                button type="submit" { (l.pick("保存备注", "Save the note")) }
            }
        }
        section #history {
            h2 { (l.pick("经过", "History")) }
            ul { @for e in &c.history { li { (e.day) " · " (event_words(l, &e.what)) } } }
        }
    };
    layout(
        Page {
            lang: l,
            title: format!("{} {}", l.pick("线索", "Case"), c.id),
            path: &format!("/case/{}", c.id),
            office: &open.office_name,
            menu: Menu::None,
        },
        content,
    )
}

/// What the inspectors must know of the case's files before they acknowledge it: which did
/// not come (their ack waits, so the server keeps its copy), and that once acknowledged the
/// desk holds the only copy of those kept.
fn files_notice(l: Lang, c: &Case, base: &str) -> Markup {
    let missing: Vec<(Option<u32>, usize, &crate::desk::ledger::CaseFile)> = c
        .files
        .iter()
        .enumerate()
        .map(|(i, f)| (None, i + 1, f))
        .chain(c.followups.iter().flat_map(|fu| {
            fu.files
                .iter()
                .enumerate()
                .map(move |(i, f)| (Some(fu.n), i + 1, f))
        }))
        .filter(|(_, _, f)| !f.kept())
        .collect();
    let waiting = missing.iter().any(|(_, _, f)| !f.settled());
    let kept = c.all_files().filter(|f| f.kept()).count();
    html! {
        @if !missing.is_empty() {
            section #files-missing role="status" {
                h2.warning { (l.pick("没有收到的文件", "Files that did not come")) " (" (missing.len()) ")" }
                ul {
                    @for (followup, n, f) in &missing {
                        li {
                            @if let Some(m) = followup { (l.pick("补充 #", "Follow-up #")) (m) " · " }
                            (kind_words(l, f.file.kind)) " " (n) " · " (super::files::size_text(l, f.file.bytes))
                            @if f.waived { " · " (l.pick("已决定不等", "gone on without")) }
                        }
                    }
                }
                @if waiting {
                    p { (l.pick(
                        "在这些文件收到之前，办案台不向服务器确认收到这件线索（或这条补充），服务器会保留它的副本；以后的导出包带来时会自动补上。如果文件不会再来（例如线索是在别的办公室确认收到之后才移送过来的），可以不再等它：",
                        "Until these files come, the desk does not acknowledge this report (or follow-up) to the server, which keeps its copy; a later export that brings them fills them in. If they will not come (for example, a case moved here after another office acknowledged it), you can go on without them:"
                    )) }
                    form autocomplete="off" method="post" action={ (base) "/files/waive" } {
                        button.secondary type="submit" { (l.pick("不等这些文件，照常确认收到（服务器随后删除它保存的副本）", "Go on without them and acknowledge (the server then deletes what it holds)")) }
                    }
                }
            }
        }
        @if kept > 0 {
            p.hint #files-only-copy { (l.pick(
                "群众的文件加密保存在本机的工作区里。确认收到后服务器会删除它的副本，这里就是唯一的一份：请备份工作区文件夹。",
                "The resident's files are kept encrypted in this machine's workspace. Once acknowledged, the server deletes its copy and this is the only one: back up the workspace folder."
            )) }
        }
    }
}

fn answer_form(l: Lang, c: &Case, base: &str) -> Markup {
    html! {
        form #answer autocomplete="off" method="post" action={ (base) "/answer" } {
            h3 { (l.pick("写答复", "Write an answer")) }
            label for="answer-status" { (l.pick("新状态", "New status")) }
            select #answer-status name="status" {
                @for s in Status::ALL { option value=(s.as_str()) selected[s == c.status] { (status_words(l, s)) } }
            }
            label for="answer-message" {
                (l.pick("给群众的话（可不填）", "A message to the resident (optional)"))
                span.hint { (l.pick("只有持回执的人能读到。请用平实的话，不要写其他群众的信息。", "Only the receipt holder can read it. Use plain words; never name other residents.")) }
            }
            @if c.reply_key.is_some() {
                textarea #answer-message name="message" {}
            } @else {
                p.hint #no-reply-key { (l.pick("这件线索没有附带回复钥匙，只能更新状态，无法留言。", "This report came without a reply key: a status can be sent, a message cannot.")) }
            }
            button type="submit" { (l.pick("放入待发（写入U盘时签名）", "Queue it (signed when written to the USB stick)")) }
        }
    }
}

/// Handing the case to another office (移送): the county takes it at once; a town gets it
/// only once the resident agrees on the status page.
fn move_form(l: Lang, c: &Case, directory: &Directory, me: Option<&str>, base: &str) -> Markup {
    let offices: Vec<(&str, &str)> = std::iter::once(&directory.root)
        .chain(directory.towns.iter())
        .map(|o| (o.id.as_str(), o.name.as_str()))
        .filter(|(id, _)| Some(*id) != me && !(me.is_none() && *id == directory.root.id.as_str()))
        .collect();
    html! {
        section #moves {
            h2 { (l.pick("移送其他办公室", "Hand over to another office")) }
            @if !c.moves.is_empty() {
                ul { @for m in &c.moves {
                    li { (m.day) " · " (m.to) " · "
                        @match m.state {
                            AnswerState::Queued => span.queued { (l.pick("待写入U盘", "waiting for the USB stick")) },
                            AnswerState::Written(n) => span { (l.pick("已写入第 ", "in bundle no. ")) (n) (l.pick(" 号包", "")) },
                        }
                    }
                } }
            }
            p.hint { (l.pick("移送到镇纪委，要先经群众在查询页同意；群众不同意，镇里什么都拿不到。", "A town office gets the case only once the resident agrees on the status page; if the resident says no, the town gets nothing.")) }
            @if c.all_files().next().is_some() {
                @if c.tip_acked {
                    p.warning #move-files { (l.pick(
                        "这件线索的文件不随移送走：本办公室已确认收到，服务器已删除它保存的文件。对方的办案台会列出没收到的文件，请另行移交（例如拷到U盘当面交接）。",
                        "The files of this case do not go with the hand-over: this office acknowledged it, so the server deleted the files it held. The other office's desk will list them as missing: hand them over another way (in person, on a stick)."
                    )) }
                } @else {
                    p.hint #move-files { (l.pick(
                        "文件由服务器随移送交给对方，前提是服务器还保存着它们。这件线索还没有确认收到，所以移送包写在确认收到包之前，文件会随线索过去：请按包号顺序在服务器上导入。",
                        "The server hands the files over with the case while it still holds them. This case is not acknowledged yet, so its hand-over is written before its acknowledgement and the files go with it: import the bundles on the server in number order."
                    )) }
                }
            }
            form autocomplete="off" method="post" action={ (base) "/move" } {
                label for="move-to" { (l.pick("移送给", "Hand over to")) }
                select #move-to name="to" {
                    @for (id, name) in &offices { option value=(id) { (name) " (" (id) ")" } }
                }
                button.secondary type="submit" { (l.pick("放入待发", "Queue the hand-over")) }
            }
        }
    }
}

/// The move form.
#[derive(Deserialize)]
pub struct MoveForm {
    to: String,
}

/// `POST /{lang}/case/{id}/move`.
pub async fn hand_over(
    desk: DeskData,
    path: web::Path<(String, String)>,
    form: web::Form<MoveForm>,
) -> Result<HttpResponse, DeskError> {
    let target = desk.with_open(|open| {
        let directory = open.directory.as_ref().ok_or_else(|| {
            DeskError::Form(
                "hand-overs need the directory of offices: start the desk with --directory".into(),
            )
        })?;
        let id: OfficeId = form
            .to
            .parse()
            .map_err(|_| DeskError::Form("choose an office from the list".into()))?;
        let town = directory.town(&id).is_some();
        if !town && id != directory.root.id {
            return Err(DeskError::Form("choose an office from the list".into()));
        }
        Ok((id, town))
    })?;
    edit(&desk, &path, |case, _, today| {
        if target.1 && case.reply_key().is_none() {
            return Err(DeskError::Form(
                crate::signing::MoveError::NoReplyKey.to_string(),
            ));
        }
        case.queue_move(target.0.as_str(), today)
            .map_err(|e| DeskError::Form(e.to_string()))?;
        Ok(true)
    })
}

fn triage_form(l: Lang, c: &Case, settings: &Settings, base: &str) -> Markup {
    let tags: Vec<&str> = c.tags.iter().map(String::as_str).collect();
    html! {
        section #triage {
            h2 { (l.pick("分级和分办", "Triage")) }
            form autocomplete="off" method="post" action={ (base) "/triage" } {
                fieldset {
                    legend { (l.pick("分级", "Colour")) }
                    @for (i, col) in Colour::ALL.into_iter().enumerate() {
                        label.check {
                            input type="radio" name="colour" value=(col.as_str()) checked[c.colour == Some(col)];
                            (colour_chip(l, Some(col))) " " span.hint { (settings.colour_meanings[i]) }
                        }
                    }
                    label.check { input type="radio" name="colour" value="" checked[c.colour.is_none()]; (super::colour_words(l, None)) }
                }
                label for="topic" { (l.pick("主题", "Topic")) }
                select #topic name="topic" {
                    option value="" { (l.pick("未选", "none")) }
                    @for t in &settings.topics { option value=(t) selected[c.topic.as_deref() == Some(t.as_str())] { (t) } }
                }
                label for="tags" { (l.pick("标签（用逗号分开）", "Tags (separated by commas)")) }
                input #tags type="text" name="tags" value=(tags.join(", "));
                label for="assignee" { (l.pick("承办人", "Assigned to")) }
                input #assignee type="text" name="assignee" maxlength="40" value=(c.assignee.as_deref().unwrap_or(""));
                label.check { input #supervised type="checkbox" name="supervised" value="on" checked[c.supervised]; (l.pick("挂牌督办", "Under supervision (挂牌督办)")) }
                label for="ack_by" { (l.pick("回复时限（留空用默认）", "Acknowledge by (empty: the office default)")) span.hint { "YYYY-MM-DD" } }
                input #ack_by type="text" name="ack_by" value=(c.ack_by.map(|d| d.to_string()).unwrap_or_default());
                label for="answer_by" { (l.pick("办结时限（留空用默认）", "Answer by (empty: the office default)")) span.hint { "YYYY-MM-DD" } }
                input #answer_by type="text" name="answer_by" value=(c.answer_by.map(|d| d.to_string()).unwrap_or_default());
                button type="submit" { (l.pick("保存分级", "Save the triage")) }
            }
        }
    }
}

/// The report form's optional questions, by their field names; other names (from other
/// clients) are shown as they came.
fn field_words(l: Lang, key: &str) -> &str {
    match key {
        "where" => l.pick("地点", "Where"),
        "who" => l.pick("涉及的人", "Who"),
        "when" => l.pick("时间", "When"),
        "amount" => l.pick("涉及金额", "Amount"),
        "proof" => l.pick("证据在哪里", "Proof, and where it is"),
        "topic" => l.pick("群众选的类别", "Kind, as the resident chose it"),
        "town" => l.pick("群众选的镇", "Town the resident chose"),
        "channel" => l.pick("怎么反映的", "How it came"),
        other => other,
    }
}

/// How a report came, as the office's intake sealed it (`channel`).
fn channel_words(l: Lang, value: &str) -> &str {
    match value {
        "letter" => l.pick("来信（办公室登记）", "a letter (entered at the office)"),
        "phone" => l.pick("来电（办公室登记）", "a phone call (entered at the office)"),
        "visit" => l.pick("来访（办公室登记）", "a visit (entered at the office)"),
        other => other,
    }
}

/// The resident's answer to "what is it about, roughly?" on the report form.
fn resident_topic_words(l: Lang, value: &str) -> &str {
    match value {
        "pensions" => l.pick("养老金、低保、补贴", "pensions, welfare, subsidies"),
        "village" => l.pick("村里的钱和土地", "village money and land"),
        "clinics" => l.pick("卫生院、看病、买药", "clinics, doctors, medicine"),
        "schools" => l.pick("学校", "schools"),
        "police" => l.pick("派出所、法院", "police and courts"),
        "unsure" => l.pick("其他，或者不确定", "something else, or not sure"),
        other => other,
    }
}

fn event_words(l: Lang, e: &EventKind) -> String {
    match e {
        EventKind::Imported => l.pick("导入", "imported").into(),
        EventKind::FollowupsImported(n) => {
            format!("{} {n}", l.pick("导入补充", "follow-ups imported:"))
        }
        EventKind::Triaged => l.pick("修改分级和分办", "triage changed").into(),
        EventKind::Noted => l.pick("加备注", "note added").into(),
        EventKind::AnswerQueued(s) => format!(
            "{} {}",
            l.pick("写答复：", "answer queued:"),
            status_words(l, *s)
        ),
        EventKind::AnswerWithdrawn => l.pick("撤回待发答复", "queued answer withdrawn").into(),
        EventKind::AnswersWritten(n) => format!(
            "{} {n}",
            l.pick("答复写入U盘，包号", "answers written, bundle no.")
        ),
        EventKind::MoveQueued(to) => format!("{} {to}", l.pick("移送：", "hand-over queued to")),
        EventKind::MovesWritten(n) => format!(
            "{} {n}",
            l.pick("移送写入U盘，包号", "hand-over written, bundle no.")
        ),
        EventKind::Requeued(n) => format!(
            "{} {n}",
            l.pick(
                "服务器拒收后重新待发，原包号",
                "queued again after the server refused bundle no."
            )
        ),
        EventKind::FilesReceived(n) => format!(
            "{} {n}",
            l.pick("补收到的文件：", "files that had not come received:")
        ),
        EventKind::FilesWaived(n) => format!(
            "{} {n}",
            l.pick(
                "不再等没收到的文件：",
                "gone on without files that did not come:"
            )
        ),
        EventKind::Acked(n) => format!(
            "{} {n}",
            l.pick(
                "回执写入U盘，包号",
                "acknowledged to the server, bundle no."
            )
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cases_channel_is_named_in_words() {
        assert_eq!(field_words(Lang::Zh, "channel"), "怎么反映的");
        assert_eq!(channel_words(Lang::Zh, "letter"), "来信（办公室登记）");
        assert_eq!(
            channel_words(Lang::En, "visit"),
            "a visit (entered at the office)"
        );
        // A value no intake makes is shown as it is, never dropped.
        assert_eq!(channel_words(Lang::En, "pigeon"), "pigeon");
    }
}
