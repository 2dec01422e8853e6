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

/// Why an e-mail was not sent.
#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    #[error("not an e-mail notifier")]
    NotEmail,
    #[error("smtp {0:?}: the port is not a number")]
    Port(String),
    #[error("ca_file {}: {error}", path.display())]
    CaFile {
        path: std::path::PathBuf,
        error: std::io::Error,
    },
    #[error("ca_file {} is not a PEM certificate: {error}", path.display())]
    CaPem {
        path: std::path::PathBuf,
        error: lettre::transport::smtp::Error,
    },
    #[error("TLS: {0}")]
    Tls(lettre::transport::smtp::Error),
    #[error("password: {0}")]
    Password(crate::secret::SecretError),
    #[error("{field} {value:?}: {error}")]
    Address {
        field: &'static str,
        value: String,
        error: lettre::address::AddressError,
    },
    #[error("the message: {0}")]
    Message(lettre::error::Error),
    #[error("smtp {smtp}: {error}")]
    Smtp {
        smtp: String,
        error: lettre::transport::smtp::Error,
    },
}

pub async fn send(n: &Notifier, m: &Message) -> Result<(), EmailError> {
    let NotifyKind::Email {
        smtp,
        username,
        password,
        from,
        to,
        ca_file,
    } = &n.kind
    else {
        return Err(EmailError::NotEmail);
    };
    let (implicit, hostport) = match smtp.strip_prefix("smtps://") {
        Some(rest) => (true, rest),
        None => (false, smtp.strip_prefix("smtp://").unwrap_or(smtp)),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (
            h.trim_matches(['[', ']']).to_string(),
            p.parse::<u16>()
                .map_err(|_| EmailError::Port(smtp.clone()))?,
        ),
        None => (hostport.to_string(), if implicit { 465 } else { 587 }),
    };
    let mut tls = TlsParameters::builder(host.clone());
    if let Some(ca) = ca_file {
        let pem = std::fs::read(ca).map_err(|error| EmailError::CaFile {
            path: ca.clone(),
            error,
        })?;
        let cert = Certificate::from_pem(&pem).map_err(|error| EmailError::CaPem {
            path: ca.clone(),
            error,
        })?;
        tls = tls.add_root_certificate(cert);
    }
    let tls = tls.build_rustls().map_err(EmailError::Tls)?;
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
            Some(p) => p.resolve().map_err(EmailError::Password)?,
            None => String::new(),
        };
        transport = transport.credentials(Credentials::new(user.clone(), pass));
    }
    let mut mail = Mail::builder()
        .from(
            from.parse::<Mailbox>()
                .map_err(|error| EmailError::Address {
                    field: "from",
                    value: from.clone(),
                    error,
                })?,
        )
        .subject(m.summary.clone());
    for t in to {
        mail = mail.to(t.parse::<Mailbox>().map_err(|error| EmailError::Address {
            field: "to",
            value: t.clone(),
            error,
        })?);
    }
    let mail = mail.body(m.text.clone()).map_err(EmailError::Message)?;
    transport
        .build()
        .send(mail)
        .await
        .map(|_| ())
        .map_err(|error| EmailError::Smtp {
            smtp: smtp.clone(),
            error,
        })
}
