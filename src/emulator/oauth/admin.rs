//! Changes to integrations after start-up, as `ALTER SECURITY INTEGRATION` makes them:
//! enabling/disabling and `REFRESH OAUTH_CLIENT_SECRET[_2]`.

use thiserror::Error;

use super::config::IntegrationConfig;
use super::secret::{CredentialKind, Secret, generate};
use super::server::OAuthServer;

/// Which client secret to regenerate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretSlot {
    /// `OAUTH_CLIENT_SECRET`.
    Primary,
    /// `OAUTH_CLIENT_SECRET_2`.
    Secondary,
}

/// The integration named in an admin change does not exist.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("OAuth integration {0:?} does not exist")]
pub struct UnknownIntegration(pub String);

impl OAuthServer {
    /// `ALTER SECURITY INTEGRATION i SET ENABLED = …`. A disabled integration refuses
    /// authorize and token requests, and its access tokens stop working (they work again
    /// when it is re-enabled, unless expired).
    pub fn set_integration_enabled(
        &mut self,
        name: &str,
        enabled: bool,
    ) -> Result<(), UnknownIntegration> {
        let integration = self.integration_mut(name)?;
        integration.enabled = enabled;
        Ok(())
    }

    /// `ALTER SECURITY INTEGRATION i REFRESH OAUTH_CLIENT_SECRET[_2]`: replaces one secret
    /// with a fresh random one and returns it; the other slot keeps working, which is how
    /// clients rotate without downtime. Issued tokens are unaffected.
    pub fn refresh_client_secret(
        &mut self,
        name: &str,
        slot: SecretSlot,
    ) -> Result<Secret, UnknownIntegration> {
        let integration = self.integration_mut(name)?;
        let secret = generate(CredentialKind::ClientSecret);
        match slot {
            SecretSlot::Primary => integration.client_secret = secret.clone(),
            SecretSlot::Secondary => integration.client_secret_2 = Some(secret.clone()),
        }
        Ok(secret)
    }

    fn integration_mut(
        &mut self,
        name: &str,
    ) -> Result<&mut IntegrationConfig, UnknownIntegration> {
        self.config
            .integrations
            .iter_mut()
            .find(|i| i.name == name)
            .ok_or_else(|| UnknownIntegration(name.to_owned()))
    }
}
