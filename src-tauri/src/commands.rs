//! The app's commands: each takes one argument named `input` (or none) and delegates to
//! [`kith_client::Client`]; every error is the one [`ApiError`] shape the UI shows. Kept thin on
//! purpose: the rules live in kith-client, where the command line uses them too.

use std::sync::Mutex;

use kith_api::{
    AlertList, AlertView, ApiError, AppState, BoardResponse, DeviceList, HealthResponse, InviteResponse, ShiftView,
    SyncState, TeamView, WriteResult,
};
use kith_client::{
    AckInput, AlertIdInput, AlertsInput, AssignInput, CheckInInput, Client, ClientError, EditMemberInput,
    EditPolicyInput, EndInput, ExtendInput, HealthInput, HistoryInput, InviteInput, JoinInput, KudosInput,
    ResolveInput, RevokeInput, SaveSettingsInput, ShiftInput, StartShiftInput,
};
use tauri::State;

// Every command, by name: the build script makes a permission for each (`allow-<name>`), and
// the capability allows them one by one. One list, shared with build.rs.
include!("command_names.rs");

/// A `kith://join?...` link the app was opened with (deep link or `KITH_JOIN_LINK`), until this
/// device has joined: the UI asks for it at start, since the event may fire before it listens.
#[derive(Debug, Default)]
pub struct PendingJoinLink(pub Mutex<Option<String>>);

impl PendingJoinLink {
    pub fn set(&self, link: Option<String>) {
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = link;
    }
    pub fn get(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

fn api<T>(r: Result<T, ClientError>) -> Result<T, ApiError> {
    r.map_err(ApiError::from)
}

#[tauri::command]
pub async fn app_state(client: State<'_, Client>) -> Result<AppState, ApiError> {
    api(client.state().await)
}

#[tauri::command]
pub async fn join(
    client: State<'_, Client>,
    pending: State<'_, PendingJoinLink>,
    input: JoinInput,
) -> Result<AppState, ApiError> {
    let state = api(client.join(input).await)?;
    pending.set(None);
    Ok(state)
}

#[tauri::command]
pub async fn start_shift(client: State<'_, Client>, input: StartShiftInput) -> Result<WriteResult, ApiError> {
    api(client.start_shift(input).await)
}

#[tauri::command]
pub async fn check_in(client: State<'_, Client>, input: CheckInInput) -> Result<WriteResult, ApiError> {
    api(client.check_in(input).await)
}

#[tauri::command]
pub async fn extend_shift(client: State<'_, Client>, input: ExtendInput) -> Result<WriteResult, ApiError> {
    api(client.extend_shift(input).await)
}

#[tauri::command]
pub async fn end_shift(client: State<'_, Client>, input: Option<EndInput>) -> Result<WriteResult, ApiError> {
    api(client.end_shift(input.unwrap_or_default()).await)
}

#[tauri::command]
pub async fn ack(client: State<'_, Client>, input: AckInput) -> Result<WriteResult, ApiError> {
    api(client.ack(input).await)
}

#[tauri::command]
pub async fn board(client: State<'_, Client>) -> Result<BoardResponse, ApiError> {
    api(client.board().await)
}

#[tauri::command]
pub async fn shift(client: State<'_, Client>, input: ShiftInput) -> Result<ShiftView, ApiError> {
    api(client.shift(input).await)
}

#[tauri::command]
pub async fn history(client: State<'_, Client>, input: Option<HistoryInput>) -> Result<Vec<ShiftView>, ApiError> {
    api(client.history(input.unwrap_or_default()).await)
}

#[tauri::command]
pub async fn health(client: State<'_, Client>, input: HealthInput) -> Result<HealthResponse, ApiError> {
    api(client.health(input).await)
}

#[tauri::command]
pub async fn alerts(client: State<'_, Client>, input: Option<AlertsInput>) -> Result<AlertList, ApiError> {
    api(client.alerts(input.unwrap_or_default()).await)
}

#[tauri::command]
pub async fn claim_alert(client: State<'_, Client>, input: AlertIdInput) -> Result<AlertView, ApiError> {
    api(client.claim_alert(input).await)
}

#[tauri::command]
pub async fn resolve_alert(client: State<'_, Client>, input: ResolveInput) -> Result<AlertView, ApiError> {
    api(client.resolve_alert(input).await)
}

#[tauri::command]
pub async fn kudos(client: State<'_, Client>, input: KudosInput) -> Result<(), ApiError> {
    api(client.kudos(input).await)
}

#[tauri::command]
pub async fn save_settings(client: State<'_, Client>, input: SaveSettingsInput) -> Result<AppState, ApiError> {
    api(client.save_settings(input).await)
}

#[tauri::command]
pub async fn export_data(client: State<'_, Client>) -> Result<String, ApiError> {
    api(client.export_data().await)
}

#[tauri::command]
pub async fn sync_now(client: State<'_, Client>) -> Result<SyncState, ApiError> {
    api(client.sync_now().await)
}

#[tauri::command]
pub async fn team_view(client: State<'_, Client>) -> Result<TeamView, ApiError> {
    api(client.team_view().await)
}

#[tauri::command]
pub async fn edit_policy(client: State<'_, Client>, input: EditPolicyInput) -> Result<TeamView, ApiError> {
    api(client.edit_policy(input).await)
}

#[tauri::command]
pub async fn edit_member(client: State<'_, Client>, input: EditMemberInput) -> Result<TeamView, ApiError> {
    api(client.edit_member(input).await)
}

#[tauri::command]
pub async fn invite(client: State<'_, Client>, input: InviteInput) -> Result<InviteResponse, ApiError> {
    api(client.invite(input).await)
}

#[tauri::command]
pub async fn devices(client: State<'_, Client>) -> Result<DeviceList, ApiError> {
    api(client.devices().await)
}

#[tauri::command]
pub async fn revoke_device(client: State<'_, Client>, input: RevokeInput) -> Result<DeviceList, ApiError> {
    api(client.revoke_device(input).await)
}

#[tauri::command]
pub async fn take_over_alert(client: State<'_, Client>, input: AlertIdInput) -> Result<AlertView, ApiError> {
    api(client.take_over_alert(input).await)
}

#[tauri::command]
pub async fn assign_alert(client: State<'_, Client>, input: AssignInput) -> Result<AlertView, ApiError> {
    api(client.assign_alert(input).await)
}

/// A system notification asked for by the UI (the alarm bell): title and body at most a line each.
#[tauri::command]
pub fn notify<R: tauri::Runtime>(app: tauri::AppHandle<R>, input: kith_api::input::NotifyInput) {
    let cut = |s: &str| s.chars().take(300).collect::<String>();
    crate::notify::show(&app, (cut(&input.title), cut(&input.body)));
}

#[tauri::command]
pub fn pending_join_link(pending: State<'_, PendingJoinLink>) -> Option<String> {
    pending.get()
}

/// The invoke handler with every command (the app and the tests register the same one).
pub fn handler<R: tauri::Runtime>() -> impl Fn(tauri::ipc::Invoke<R>) -> bool + Send + Sync + 'static {
    tauri::generate_handler![
        app_state,
        join,
        start_shift,
        check_in,
        extend_shift,
        end_shift,
        ack,
        board,
        shift,
        history,
        health,
        alerts,
        claim_alert,
        resolve_alert,
        kudos,
        save_settings,
        export_data,
        sync_now,
        pending_join_link,
        team_view,
        edit_policy,
        edit_member,
        invite,
        devices,
        revoke_device,
        take_over_alert,
        assign_alert,
        notify,
    ]
}
