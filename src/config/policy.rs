//! `[policy]`: the 3-2-1(-1) rule and the freshness limits.

use std::collections::BTreeSet;
use std::ops::Range;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{Cx, Location, Medium, TargetConfig};

/// The clock skew allowed when `[policy] clock_skew` is not set.
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);

/// The 3-2-1(-1) rule and the freshness limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub copies: u32,
    pub media: u32,
    pub offsite: u32,
    pub immutable: u32,
    /// The newest compliant backup must be younger than this.
    pub max_age: Duration,
    /// Past this age the status is WARNING. Defaults to 80 % of `max_age`.
    pub warn_age: Duration,
    /// A restore drill (`check --deep --identity`) older than this is a WARNING.
    pub drill_max_age: Option<Duration>,
    /// For a source with a standby PBX: a standby drill (`drill --standby`) older than this
    /// (or none) is a WARNING.
    pub max_standby_age: Option<Duration>,
    /// How far ahead of this host's clock a backup may be dated and still count (clocks of
    /// hosts sharing a target disagree a little). Default 5 minutes.
    pub clock_skew: Duration,
}

impl Policy {
    /// The rule of a bare machine (a config of targets only, or `--from`): are the copies
    /// there good — one copy, of any age. It verifies what survived; it does not judge a
    /// 3-2-1 set-up that is gone.
    pub fn bare() -> Policy {
        let (_, longest) = super::duration::bounds("max_age");
        Policy {
            copies: 1,
            media: 1,
            offsite: 0,
            immutable: 0,
            max_age: longest,
            warn_age: longest.mul_f64(0.8),
            drill_max_age: None,
            max_standby_age: None,
            clock_skew: DEFAULT_CLOCK_SKEW,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    copies: Option<u32>,
    media: Option<u32>,
    offsite: Option<u32>,
    immutable: Option<u32>,
    max_age: Option<Spanned<String>>,
    warn_age: Option<Spanned<String>>,
    drill_max_age: Option<Spanned<String>>,
    max_standby_age: Option<Spanned<String>>,
    clock_skew: Option<Spanned<String>>,
}

impl Cx<'_> {
    /// The policy; a duration that is wrong is reported and replaced by its default, so
    /// that the rest (the counts, their feasibility) is still checked in the same pass.
    pub(super) fn policy(&mut self, raw: RawPolicy) -> Option<Policy> {
        let default_max = Duration::from_secs(26 * 3600);
        let max_age = match &raw.max_age {
            Some(s) => self.duration(s, "max_age").unwrap_or(default_max),
            None => default_max,
        };
        let warn_age = match &raw.warn_age {
            None => max_age.mul_f64(0.8),
            Some(s) => match self.duration(s, "warn_age") {
                Some(w) if w >= max_age => {
                    self.problem(
                        Some(s.span()),
                        "warn_age must be shorter than max_age (it warns before the backup is too old)",
                    );
                    max_age.mul_f64(0.8)
                }
                Some(w) => w,
                None => max_age.mul_f64(0.8),
            },
        };
        let drill_max_age = raw
            .drill_max_age
            .as_ref()
            .and_then(|s| self.duration(s, "drill_max_age"));
        let max_standby_age = raw
            .max_standby_age
            .as_ref()
            .and_then(|s| self.duration(s, "max_standby_age"));
        let clock_skew = raw
            .clock_skew
            .as_ref()
            .and_then(|s| self.duration(s, "clock_skew"))
            .unwrap_or(DEFAULT_CLOCK_SKEW);
        Some(Policy {
            clock_skew,
            copies: raw.copies.unwrap_or(3),
            media: raw.media.unwrap_or(2),
            offsite: raw.offsite.unwrap_or(1),
            immutable: raw.immutable.unwrap_or(0),
            max_age,
            warn_age,
            drill_max_age,
            max_standby_age,
        })
    }

    /// Checks that the rule can be met with the targets configured: `written` tables, of
    /// which `targets` parsed (media and offsite are judged only when all did).
    pub(super) fn feasible(
        &mut self,
        policy: &Policy,
        targets: &[TargetConfig],
        written: usize,
        span: Option<Range<usize>>,
    ) {
        let all = targets.len() == written;
        let media: BTreeSet<Medium> = targets.iter().map(|t| t.medium).collect();
        let offsite = targets
            .iter()
            .filter(|t| t.location == Location::Offsite)
            .count();
        let immutable = targets
            .iter()
            .filter(|t| t.kind.supports_immutability())
            .count();
        let checks = [
            (
                policy.copies == 0,
                "copies = 0 keeps nothing: use at least 1 (3 for the 3-2-1 rule)".to_string(),
            ),
            (
                policy.copies as usize > written,
                format!(
                    "copies = {} but only {} target(s) are configured: add targets or lower copies",
                    policy.copies, written
                ),
            ),
            (
                policy.media > policy.copies,
                format!(
                    "media = {} is more than copies = {}: every medium needs a copy",
                    policy.media, policy.copies
                ),
            ),
            (
                all && policy.media as usize > media.len(),
                format!(
                    "media = {} but the targets use only {} medium/media ({}): give a target another medium, e.g. medium = \"nas\"",
                    policy.media,
                    media.len(),
                    media
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            (
                all && policy.offsite as usize > offsite,
                format!(
                    "offsite = {} but {} target(s) have location = \"offsite\": add an offsite target or lower offsite",
                    policy.offsite, offsite
                ),
            ),
            (
                all && policy.immutable as usize > immutable,
                format!(
                    "immutable = {} but {} target(s) can hold an immutable copy (an s3 target with object_lock): add one or set immutable = 0",
                    policy.immutable, immutable
                ),
            ),
        ];
        for (bad, message) in checks {
            if bad {
                self.problem(span.clone(), format!("[policy] {message}"));
            }
        }
    }
}
