// Browser notifications for the dashboard and the phone web app. In the app the Rust side raises
// native notifications (reminders fire offline too), so the UI does not call any notification API
// there.

export type NotifyPermission = 'granted' | 'denied' | 'default' | 'unsupported';

export function notifyPermission(): NotifyPermission {
  const N = (globalThis as { Notification?: typeof Notification }).Notification;
  return N ? N.permission : 'unsupported';
}

/** Asks for permission; must run from a user gesture (a button). */
export async function requestNotify(): Promise<NotifyPermission> {
  const N = (globalThis as { Notification?: typeof Notification }).Notification;
  if (!N) return 'unsupported';
  try {
    return await N.requestPermission();
  } catch {
    return N.permission;
  }
}

/** Shows a notification if allowed; `tag` replaces an earlier one about the same thing. */
export function notify(title: string, body: string, tag: string, onClick?: () => void): void {
  if (notifyPermission() !== 'granted') return;
  try {
    const n = new Notification(title, { body, tag });
    if (onClick) {
      n.onclick = () => {
        globalThis.focus?.();
        onClick();
        n.close();
      };
    }
  } catch {
    // Some platforms (Chrome on Android) only allow notifications from a service worker.
    void navigator.serviceWorker?.ready.then((r) => r.showNotification(title, { body, tag })).catch(() => {});
  }
}
