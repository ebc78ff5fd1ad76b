//! What the load and startup bench binaries (`src/bin/kith-load.rs`, `kith-startup.rs`) share:
//! reading a process's memory, joining devices, and pushing a device's documents through the real `/v1/sync`.

use anyhow::bail;
use automerge::ActorId;
use kith_domain::{DeviceId, MemberId, TeamId};
use kith_proto::{JoinRequest, JoinResponse, Outcome, SyncRequest, SyncResponse};

/// A device joined through the real `/v1/join`: its actor, bearer token and ids.
#[derive(Debug)]
pub struct Dev {
    pub actor: ActorId,
    pub token: String,
    pub team: TeamId,
    pub member: MemberId,
    pub device: DeviceId,
}

/// Joins server `base` with invite `code` as `name`, the device labelled `label`.
pub async fn join(http: &reqwest::Client, base: &str, code: &str, name: String, label: &str) -> anyhow::Result<Dev> {
    let actor = ActorId::random();
    let req =
        JoinRequest { code: code.into(), name, device_label: label.into(), actor: actor.to_hex_string(), rejoin: None };
    let r = http.post(format!("{base}/v1/join")).json(&req).send().await?;
    if !r.status().is_success() {
        bail!("join: {} {}", r.status(), r.text().await?);
    }
    let j: JoinResponse = r.json().await?;
    Ok(Dev {
        actor,
        token: j.token,
        team: TeamId(j.team_id),
        member: MemberId(j.member_id),
        device: DeviceId(j.device_id),
    })
}

/// A `/proc/<pid>/status` field in KiB (`VmRSS:`, `VmHWM:`, ...); 0 if it cannot be read.
pub fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

/// Sends `req` to `url` (a server's `/v1/sync`) as the device holding `token`; an error unless
/// the answer is 200 and every pushed document was accepted.
pub async fn sync_all_accepted(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    req: &SyncRequest,
) -> anyhow::Result<()> {
    let r = http
        .post(url)
        .bearer_auth(token)
        .header("content-type", kith_proto::CONTENT_TYPE)
        .body(kith_proto::encode(req)?)
        .send()
        .await?;
    if r.status() != 200 {
        bail!("sync: {} {}", r.status(), r.text().await?);
    }
    let resp: SyncResponse = kith_proto::decode(&r.bytes().await?)?;
    if resp.docs.iter().any(|d| d.outcome != Outcome::Accepted) {
        bail!("sync: a push not accepted: {:?}", resp.docs.iter().map(|d| &d.outcome).collect::<Vec<_>>());
    }
    Ok(())
}
