//! `[[tenant]]`: the customers of a managed-service provider, each seeing only its own
//! sources. A source belongs to a tenant by `tenant = "acme"` on the source, or by a glob
//! of the tenant's `sources` (`["acme-hq", "acme-*"]`); never to two. A tenant may have its
//! own `auth_token` for the daemon's page, API and metrics.

use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;
use toml::de::DeValue;

use super::{Cx, Notifier, Secret, SourceConfig};

/// A tenant, with the sources it owns resolved.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub name: String,
    /// The globs as written.
    pub patterns: Vec<String>,
    /// Its sources, in config order.
    pub sources: Vec<String>,
    /// Its own token for the daemon's page, API and metrics (it sees only its sources).
    pub auth_token: Option<Secret>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTenant {
    name: String,
    #[serde(default)]
    sources: Vec<String>,
    auth_token: Option<Secret>,
}

impl Cx<'_> {
    /// The tenants, each source's tenant, and each tenant notifier's sources. A source in two
    /// tenants, a glob that matches no source, a tenant named nowhere: each a problem.
    pub(super) fn tenancy(
        &mut self,
        tables: &[&Spanned<DeValue<'_>>],
        sources: &mut [SourceConfig],
        notify: &mut [Notifier],
    ) -> Vec<Tenant> {
        let mut tenants = Vec::new();
        for (i, t) in tables.iter().enumerate() {
            let prefix = format!("[[tenant]] #{}: ", i + 1);
            let Some(raw) = self.section::<RawTenant>(t, &prefix) else {
                continue;
            };
            let span = raw.span();
            if let Some(t) = self.tenant(raw.into_inner(), span, &tenants) {
                tenants.push(t);
            }
        }
        self.assign(&mut tenants, sources);
        for n in notify.iter_mut() {
            let Some(name) = &n.tenant else { continue };
            match tenants.iter().find(|t| &t.name == name) {
                Some(t) => n.only = Some(t.sources.iter().cloned().collect()),
                None => self.problem(
                    None,
                    format!("notifier {}: tenant = {name:?} is not a [[tenant]]", n.name),
                ),
            }
        }
        tenants
    }

    fn tenant(&mut self, raw: RawTenant, span: Range<usize>, seen: &[Tenant]) -> Option<Tenant> {
        if let Err(why) = crate::manifest::check_name(&raw.name) {
            self.problem(Some(span), format!("[[tenant]] name {:?} {why}", raw.name));
            return None;
        }
        if seen.iter().any(|t| t.name == raw.name) {
            self.problem(
                Some(span),
                format!("[[tenant]] {:?} is named twice", raw.name),
            );
            return None;
        }
        for p in &raw.sources {
            if let Err(e) = glob::Pattern::new(p) {
                self.problem(
                    Some(span.clone()),
                    format!("[[tenant]] {}: sources {p:?} is not a glob: {e}", raw.name),
                );
                return None;
            }
        }
        if let Some(token) = &raw.auth_token {
            self.secrets.push(super::SecretRef {
                line: Some(self.line_of(span.start)),
                what: format!("[[tenant]] {} auth_token", raw.name),
                secret: token.clone(),
            });
        }
        Some(Tenant {
            name: raw.name,
            patterns: raw.sources,
            sources: Vec::new(),
            auth_token: raw.auth_token,
        })
    }

    /// Each source's tenant: its own `tenant` key, else the one tenant whose glob matches.
    fn assign(&mut self, tenants: &mut [Tenant], sources: &mut [SourceConfig]) {
        for s in sources.iter_mut() {
            let by_glob: Vec<&str> = tenants
                .iter()
                .filter(|t| {
                    t.patterns
                        .iter()
                        .any(|p| glob::Pattern::new(p).is_ok_and(|g| g.matches(&s.name)))
                })
                .map(|t| t.name.as_str())
                .collect();
            let tenant = match (&s.tenant, by_glob.as_slice()) {
                (Some(own), _) => {
                    if !tenants.iter().any(|t| &t.name == own) {
                        self.problem(
                            None,
                            format!("source {:?}: tenant = {own:?} is not a [[tenant]]", s.name),
                        );
                    }
                    Some(own.clone())
                }
                (None, []) => None,
                (None, [one]) => Some(one.to_string()),
                (None, many) => {
                    self.problem(
                        None,
                        format!(
                            "source {:?} is in two tenants ({}): narrow their sources globs, or set tenant = \"…\" on the source",
                            s.name,
                            many.join(", ")
                        ),
                    );
                    None
                }
            };
            if let Some(t) = tenants
                .iter_mut()
                .find(|t| Some(&t.name) == tenant.as_ref())
            {
                t.sources.push(s.name.clone());
            }
            s.tenant = tenant;
        }
        for t in tenants.iter() {
            for p in &t.patterns {
                let g = glob::Pattern::new(p).ok();
                if !sources
                    .iter()
                    .any(|s| g.as_ref().is_some_and(|g| g.matches(&s.name)))
                {
                    self.problem(
                        None,
                        format!("[[tenant]] {}: sources {p:?} matches no source", t.name),
                    );
                }
            }
        }
    }
}
