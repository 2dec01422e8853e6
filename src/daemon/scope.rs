//! Who is asking, and what they may see: the operator (the daemon's `auth_token`, or no
//! token on loopback) sees every source; a tenant's token (`[[tenant]] auth_token`) only
//! that tenant's. The one place tenancy is enforced: [`Scope::apply`] filters the daemon's
//! status before any renderer sees it — the page, a source's page, `/api/status` and
//! `/metrics` all draw from what it returns, so another tenant's source is simply not there
//! (its page is 404, as for a source that does not exist).

use std::borrow::Cow;
use std::collections::BTreeSet;

use super::Status;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    Tenant {
        name: String,
        sources: BTreeSet<String>,
    },
}

impl Scope {
    pub fn sees(&self, source: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Tenant { sources, .. } => sources.contains(source),
        }
    }

    pub fn is_operator(&self) -> bool {
        *self == Scope::All
    }

    /// The status as this scope may see it: for a tenant, a copy holding its sources alone
    /// (their runs, next runs, check, metrics and config), and the fleet's verdict over them.
    pub fn apply<'s>(&self, st: &'s Status) -> Cow<'s, Status> {
        if self.is_operator() {
            return Cow::Borrowed(st);
        }
        let mut v = st.clone();
        v.last.retain(|s, _| self.sees(s));
        v.runs_total.retain(|(s, _), _| self.sees(s));
        v.next.retain(|job, _| {
            job.strip_prefix("backup ")
                .is_none_or(|source| self.sees(source))
        });
        if let Some(r) = &mut v.check {
            r.sources.retain(|s| self.sees(&s.status.source));
            r.status = crate::policy::worst(r.sources.iter().map(|s| s.status.status));
            v.check_status = Some(r.status.label().to_string());
            v.check_metrics = Some(crate::report::prometheus::render(r));
        }
        if let Some(c) = &mut v.config {
            c.sources.retain(|s| self.sees(&s.name));
            if let Scope::Tenant { name, .. } = self {
                c.tenants.retain(|t| &t.name == name);
            }
            c.notify.clear();
        }
        Cow::Owned(v)
    }
}

/// The scope a presented token gives: the operator's token (or none where none is set)
/// is everything; a tenant's is that tenant; anything else is nothing. Compared in
/// constant time, every token every time.
pub fn of_token(
    presented: Option<&[u8]>,
    operator: Option<&str>,
    tenants: &[crate::config::Tenant],
) -> Option<Scope> {
    let eq = |a: &[u8], b: &[u8]| {
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    };
    let mut found = None;
    for t in tenants {
        let Some(secret) = &t.auth_token else {
            continue;
        };
        let Ok(token) = secret.resolve() else {
            continue;
        };
        if presented.is_some_and(|p| eq(p, token.as_bytes())) && found.is_none() {
            found = Some(Scope::Tenant {
                name: t.name.clone(),
                sources: t.sources.iter().cloned().collect(),
            });
        }
    }
    match (operator, presented) {
        (None, None) => Some(Scope::All),
        (Some(op), Some(p)) if eq(p, op.as_bytes()) => Some(Scope::All),
        (None, Some(_)) if found.is_none() => Some(Scope::All),
        _ => found,
    }
}
