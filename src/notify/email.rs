//! E-mail through an SMTP relay, with lettre over rustls: STARTTLS that refuses to go on in
//! clear text when the relay does not offer it (`smtp = "host:587"`), or implicit TLS
//! (`smtp = "smtps://host:465"`). The password is resolved at send time and never logged.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message as Mail, Tokio1Executor};

use super::Message;
use crate::config::{Notifier, NotifyKind};

pub async fn send(n: &Notifier, m: &Message) -> Result<(), String> {
    let NotifyKind::Email {
        smtp,
        username,
        password,
        from,
        to,
        ca_file,
    } = &n.kind
    else {
        return Err("not an e-mail notifier".into());
    };
    let (implicit, hostport) = match smtp.strip_prefix("smtps://") {
        Some(rest) => (true, rest),
        None => (false, smtp.strip_prefix("smtp://").unwrap_or(smtp)),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (
            h.trim_matches(['[', ']']).to_string(),
            p.parse::<u16>()
                .map_err(|_| format!("smtp {smtp:?}: the port is not a number"))?,
        ),
        None => (hostport.to_string(), if implicit { 465 } else { 587 }),
    };
    let mut tls = TlsParameters::builder(host.clone());
    if let Some(ca) = ca_file {
        let pem = std::fs::read(ca).map_err(|e| format!("ca_file {}: {e}", ca.display()))?;
        let cert = Certificate::from_pem(&pem)
            .map_err(|e| format!("ca_file {} is not a PEM certificate: {e}", ca.display()))?;
        tls = tls.add_root_certificate(cert);
    }
    let tls = tls.build_rustls().map_err(|e| format!("TLS: {e}"))?;
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&host)
        .port(port)
        .timeout(Some(Duration::from_secs(20)))
        .tls(if implicit {
            Tls::Wrapper(tls)
        } else {
            // Required: a relay that does not offer STARTTLS is refused, never used in clear.
            Tls::Required(tls)
        });
    if let Some(user) = username {
        let pass = match password {
            Some(p) => p.resolve().map_err(|e| format!("password: {e}"))?,
            None => String::new(),
        };
        transport = transport.credentials(Credentials::new(user.clone(), pass));
    }
    let mut mail = Mail::builder()
        .from(
            from.parse::<Mailbox>()
                .map_err(|e| format!("from {from:?}: {e}"))?,
        )
        .subject(m.summary.clone());
    for t in to {
        mail = mail.to(t.parse::<Mailbox>().map_err(|e| format!("to {t:?}: {e}"))?);
    }
    let mail = mail
        .body(m.text.clone())
        .map_err(|e| format!("the message: {e}"))?;
    transport
        .build()
        .send(mail)
        .await
        .map(|_| ())
        .map_err(|e| format!("smtp {smtp}: {e}"))
}
