//! What the app does around the window: the tray icon and its status, hiding instead of closing
//! (so sync and reminders go on), the reminder timer, and `kith://` deep links.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use kith_api::{AppState, ReminderView};
use kith_client::Client;
use kith_domain::rules::{DueReason, DueState};
use tauri::{AppHandle, Manager, Runtime, WindowEvent};

use crate::Reschedule;

/// How often the timer wakes with nothing due, to refresh the tray (due soon and overdue come
/// with the passing of time, not only with changes).
const TICK: Duration = Duration::from_secs(30);

/// This device's member id, once joined (for telling "about me" alerts apart).
#[derive(Debug, Default)]
pub struct Me(Mutex<Option<uuid::Uuid>>);

impl Me {
    pub fn get(&self) -> Option<uuid::Uuid> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
    fn set(&self, v: Option<uuid::Uuid>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = v;
    }
}

/// The tray's status line, when there is a tray: its presence also means closing the window
/// only hides it.
#[cfg(desktop)]
struct Tray<R: Runtime> {
    icon: tauri::tray::TrayIcon<R>,
    status: tauri::menu::MenuItem<R>,
}

pub fn show_main_window<R: Runtime>(app: &AppHandle<R>) {
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.show();
        let _ = w.unminimize();
        let _ = w.set_focus();
    }
}

/// Closing the window hides it while there is a tray to bring it back: a worker on shift must
/// keep getting reminders and syncing. Without a tray, closing closes.
pub fn on_window_event<R: Runtime>(window: &tauri::Window<R>, event: &WindowEvent) {
    #[cfg(desktop)]
    if let WindowEvent::CloseRequested { api, .. } = event
        && window.app_handle().try_state::<Tray<R>>().is_some()
    {
        api.prevent_close();
        let _ = window.hide();
    }
    #[cfg(not(desktop))]
    let _ = (window, event);
}

/// The tray icon with a status line, Show and Quit.
#[cfg(desktop)]
pub fn setup_tray<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
    use tauri::tray::{MouseButton, MouseButtonState, TrayIconBuilder, TrayIconEvent};

    app.manage(Me::default());
    let status = MenuItem::with_id(app, "status", "Kith", false, None::<&str>)?;
    let show = MenuItem::with_id(app, "show", "Show", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?;
    let sep = PredefinedMenuItem::separator(app)?;
    let menu = Menu::with_items(app, &[&status, &sep, &show, &quit])?;
    let mut tray = TrayIconBuilder::with_id("kith")
        .tooltip("Kith")
        .menu(&menu)
        .show_menu_on_left_click(false)
        .on_menu_event(|app, event| match event.id().as_ref() {
            "show" => show_main_window(app),
            "quit" => app.exit(0),
            _ => {}
        })
        .on_tray_icon_event(|tray, event| {
            if let TrayIconEvent::Click { button: MouseButton::Left, button_state: MouseButtonState::Up, .. } = event {
                show_main_window(tray.app_handle());
            }
        });
    if let Some(icon) = app.default_window_icon() {
        tray = tray.icon(icon.clone());
    }
    match tray.build(app) {
        Ok(icon) => {
            app.manage(Tray { icon, status });
        }
        // No tray on this desktop (e.g. no status notifier): the app still works, and closing
        // the window then quits it.
        Err(e) => tracing::warn!("no tray icon: {e}"),
    }
    Ok(())
}

#[cfg(not(desktop))]
pub fn setup_tray<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    app.manage(Me::default());
    Ok(())
}

/// The one line the tray shows: on shift / due soon / overdue / off shift, and offline.
pub fn status_line(state: Option<&AppState>) -> String {
    let Some(s) = state.filter(|s| s.joined) else { return "Kith: not joined to a team yet".to_string() };
    let mut line = match &s.shift {
        None => "Off shift".to_string(),
        Some(sh) => match (sh.due, sh.due_reason) {
            (DueState::Overdue, Some(DueReason::PlannedEnd)) => "Past your planned end: end or extend".to_string(),
            (DueState::Overdue, _) => "Check-in overdue: check in now".to_string(),
            (DueState::DueSoon, Some(DueReason::PlannedEnd)) => "Planned end soon".to_string(),
            (DueState::DueSoon, _) => "Check-in due soon".to_string(),
            _ => "On shift".to_string(),
        },
    };
    if !s.sync.online {
        line.push_str(" · offline");
    }
    if s.sync.pending_changes > 0 {
        line.push_str(&format!(" · {} waiting to sync", s.sync.pending_changes));
        if s.sync.online && s.sync.retrying.is_some() {
            // The server answered but could not store them: not delivered, retried by itself.
            line.push_str(" (server could not store them yet; retrying)");
        }
    }
    line
}

fn refresh_tray<R: Runtime>(app: &AppHandle<R>, state: Option<&AppState>) {
    if let Some(me) = app.try_state::<Me>() {
        me.set(state.and_then(|s| s.me.as_ref()).map(|m| m.member_id.uuid()));
    }
    #[cfg(desktop)]
    if let Some(tray) = app.try_state::<Tray<R>>() {
        let line = status_line(state);
        let _ = tray.status.set_text(&line);
        let _ = tray.icon.set_tooltip(Some(format!("Kith: {line}")));
    }
}

/// The reminder timer: fires each reminder of my running shift once, when its time comes, from
/// the documents on this device (so offline too), and is rescheduled after every change.
pub fn spawn_reminders<R: Runtime>(app: AppHandle<R>, client: Client) {
    let reschedule = app.state::<Arc<Reschedule>>().inner().clone();
    tauri::async_runtime::spawn(async move {
        // Keyed by shift, deadline and which deadline (check-in or planned end).
        let mut fired: HashSet<(kith_domain::ShiftId, bool, i64)> = HashSet::new();
        loop {
            let state = client.state().await.ok();
            refresh_tray(&app, state.as_ref());
            let all = client.reminders().await.unwrap_or_default();
            let now = kith_sync::now_ms();
            for r in due_now(&all, now) {
                if fired.insert((r.shift, r.reason == DueReason::CheckIn, r.deadline_ms.0)) {
                    crate::notify::reminder(&app, r);
                }
            }
            let wait = next_wake(&all, now);
            tokio::select! {
                _ = reschedule.0.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    });
}

/// Reminders whose time has come and whose deadline has not passed.
pub fn due_now(all: &[ReminderView], now_ms: i64) -> impl Iterator<Item = &ReminderView> {
    all.iter().filter(move |r| r.at_ms.0 <= now_ms && now_ms < r.deadline_ms.0)
}

/// How long to sleep: until the next reminder, at most [`TICK`].
pub fn next_wake(all: &[ReminderView], now_ms: i64) -> Duration {
    all.iter()
        .map(|r| r.at_ms.0)
        .filter(|at| *at > now_ms)
        .min()
        .map_or(TICK, |at| Duration::from_millis(u64::try_from(at - now_ms).unwrap_or(0)).min(TICK))
}

/// Listens for `kith://join?...` links (and takes the one the app was started with). In debug
/// builds on Linux and Windows the scheme is registered at run time, so links open the dev build.
pub fn setup_deep_links<R: Runtime>(app: &AppHandle<R>) {
    use tauri_plugin_deep_link::DeepLinkExt;
    #[cfg(all(debug_assertions, any(target_os = "linux", windows)))]
    if let Err(e) = app.deep_link().register_all() {
        tracing::warn!("could not register the kith:// links with the desktop: {e}");
    }
    if let Ok(Some(urls)) = app.deep_link().get_current() {
        for u in urls {
            crate::open_link(app, u.as_str());
        }
    }
    let handle = app.clone();
    app.deep_link().on_open_url(move |event| {
        for u in event.urls() {
            crate::open_link(&handle, u.as_str());
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use kith_domain::{ShiftId, Timestamp};

    fn r(at: i64, deadline: i64) -> ReminderView {
        ReminderView {
            shift: ShiftId::new(),
            reason: DueReason::CheckIn,
            at_ms: Timestamp(at),
            deadline_ms: Timestamp(deadline),
        }
    }

    #[test]
    fn the_timer_wakes_for_the_next_reminder_and_fires_what_is_due() {
        let all = [r(1_000, 301_000), r(50_000, 350_000)];
        assert_eq!(due_now(&all, 500).count(), 0);
        assert_eq!(next_wake(&all, 500), Duration::from_millis(500));
        assert_eq!(due_now(&all, 1_000).count(), 1);
        assert_eq!(next_wake(&all, 1_000), TICK, "49 s away is beyond one tick");
        assert_eq!(due_now(&all, 302_000).count(), 1, "past its deadline a reminder is not fired");
        assert_eq!(next_wake(&[], 0), TICK);
    }
}
