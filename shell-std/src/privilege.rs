//! Dropping root after the capture is open (`tapbeat run --user NAME`).
//!
//! Opening a capture needs root or `CAP_NET_RAW` (+ `CAP_NET_ADMIN` for
//! promiscuous mode); reading from the opened socket does not. So `tapbeat
//! run` opens the capture and the outputs first, then switches every
//! thread to the given user: supplementary groups replaced by the user's
//! primary group, then gid, then uid (in that order: once the uid is not 0
//! the others can no longer be changed). Switching uid away from 0 also
//! clears every capability. If any step fails, or root can still be
//! regained afterwards, the caller must stop: analysing hostile traffic as
//! root when the operator asked otherwise is not an option.

use anyhow::{bail, Context, Result};
use nix::unistd::{getegid, geteuid, getgid, getgroups, getuid, setgid, setgroups, setuid, Gid, Uid, User};

/// The identity a process ended up with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    /// Real and effective user id.
    pub uid: u32,
    /// Real and effective group id.
    pub gid: u32,
}

/// Switches the whole process (all threads: glibc applies set*id to every
/// thread) to user `name` and its primary group, and checks the result.
pub fn drop_to(name: &str) -> Result<Identity> {
    let user = User::from_name(name)
        .with_context(|| format!("--user {name}: cannot look the user up"))?
        .with_context(|| format!("--user {name}: no such user"))?;
    let (uid, gid) = (user.uid, user.gid);
    if geteuid() == uid && getegid() == gid && getuid() == uid && getgid() == gid {
        // Already that user (e.g. started by systemd as it): nothing to drop.
        return Ok(Identity { uid: uid.as_raw(), gid: gid.as_raw() });
    }
    setgroups(&[gid]).with_context(|| format!("--user {name}: cannot set supplementary groups (needs root)"))?;
    setgid(gid).with_context(|| format!("--user {name}: cannot switch to group {gid}"))?;
    setuid(uid).with_context(|| format!("--user {name}: cannot switch to user {uid}"))?;
    check(uid, gid)?;
    Ok(Identity { uid: uid.as_raw(), gid: gid.as_raw() })
}

fn check(uid: Uid, gid: Gid) -> Result<()> {
    if getuid() != uid || geteuid() != uid || getgid() != gid || getegid() != gid {
        bail!("privilege drop incomplete: uid {}/{}, gid {}/{}", getuid(), geteuid(), getgid(), getegid());
    }
    if getgroups().map(|g| g.iter().any(|&x| x != gid)).unwrap_or(true) {
        bail!("privilege drop incomplete: supplementary groups remain");
    }
    if !uid.is_root() && setuid(Uid::from_raw(0)).is_ok() {
        bail!("privilege drop incomplete: root could be regained");
    }
    Ok(())
}
