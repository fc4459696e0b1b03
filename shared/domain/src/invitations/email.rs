//! E-mails the consent link over SMTP (when `smtp.host` is configured).

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;
use sua_core::config::SmtpConfig;

#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: String,
}

impl Mailer {
    /// `None` when no SMTP host is configured.
    pub fn from_config(config: &SmtpConfig) -> anyhow::Result<Option<Self>> {
        let Some(host) = &config.host else { return Ok(None) };
        let mut builder = match config.security.as_str() {
            "tls" => AsyncSmtpTransport::<Tokio1Executor>::relay(host)?,
            "starttls" => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)?,
            _ => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.as_str()),
        }
        .port(config.port)
        .timeout(Some(std::time::Duration::from_secs(20)));
        if let (Some(user), Some(password)) = (&config.username, &config.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.expose_secret().to_string()));
        }
        Ok(Some(Self { transport: builder.build(), from: config.from.clone() }))
    }

    pub async fn send_invitation(&self, to: &str, customer: &str, link: &str, expires: &str) -> anyhow::Result<()> {
        let body = format!(
            "Hello,\n\n\
             {customer} has been invited to Microsoft Teams call usage and Microsoft 365 licence analytics.\n\n\
             To start, a Global Administrator (or Privileged Role Administrator) of your Microsoft 365 tenant grants\n\
             read-only access once, on Microsoft's own consent page:\n\n{link}\n\n\
             The app asks for these read-only application permissions:\n\
             - AuditLog.Read.All: users' last sign-in date (needs at least one Microsoft Entra ID P1 licence)\n\
             - CallRecords.Read.All: Teams call and meeting records\n\
             - Organization.Read.All: the licences (subscriptions) your organisation bought\n\
             - Reports.Read.All: the Microsoft Teams user activity report\n\
             - User.Read.All: user profiles and assigned licences\n\n\
             Nothing is changed in your tenant. The link is valid until {expires}.\n"
        );
        let message = Message::builder()
            .from(self.from.parse()?)
            .to(to.parse()?)
            .subject(format!("Grant read-only access for {customer}"))
            .header(ContentType::TEXT_PLAIN)
            .body(body)?;
        self.transport.send(message).await?;
        Ok(())
    }
}
