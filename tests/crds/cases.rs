//! The table of bad resources and the message fragment a user must read for each.

use serde_json::{Value, json};

/// Which kind a case creates.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Connection,
    ServiceUser,
    Token,
}

/// One bad resource.
pub struct Case {
    pub name: &'static str,
    pub kind: Kind,
    pub spec: Value,
    pub expected: &'static str,
}

/// Merges `patch` into `base` (JSON merge patch: `null` removes a field).
pub fn merged(mut base: Value, patch: Value) -> Value {
    merge(&mut base, patch);
    base
}

fn merge(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    target.remove(&key);
                } else {
                    merge(target.entry(key).or_insert(Value::Null), value);
                }
            }
        }
        (target, patch) => *target = patch,
    }
}

fn pat_token() -> Value {
    json!({
        "connectionRef": {"name": "prod"},
        "user": {"name": "BI_SVC"},
        "programmaticAccessToken": {"roleRestriction": "ANALYST", "daysToExpiry": 30},
    })
}

fn oauth() -> Value {
    json!({
        "clientSecretRef": {"name": "client"},
        "refreshTokenSecretRef": {"name": "refresh", "key": "refresh_token"},
    })
}

fn oauth_token() -> Value {
    json!({
        "connectionRef": {"name": "prod"},
        "user": {"name": "TABLEAU"},
        "oauth": oauth(),
    })
}

fn key_pair_token() -> Value {
    json!({
        "connectionRef": {"name": "prod"},
        "user": {"name": "LOADER"},
        "keyPair": {},
    })
}

fn key_pair(name: &'static str, patch: Value, expected: &'static str) -> Case {
    Case {
        name,
        kind: Kind::Token,
        spec: merged(key_pair_token(), patch),
        expected,
    }
}

fn service_user() -> Value {
    json!({"connectionRef": {"name": "prod"}, "roles": ["ANALYST"]})
}

fn connection() -> Value {
    json!({
        "account": "myorg-analytics",
        "user": "TOKEN_ADMIN",
        "auth": {"keyPair": {"privateKeySecretRef": {"name": "admin-key", "key": "rsa_key.p8"}}},
    })
}

fn token(name: &'static str, patch: Value, expected: &'static str) -> Case {
    Case {
        name,
        kind: Kind::Token,
        spec: merged(pat_token(), patch),
        expected,
    }
}

const ONE_CREDENTIAL: &str = "set exactly one of programmaticAccessToken";
const ONE_USER: &str = "set exactly one of user.serviceUserRef";
const IDENTIFIER: &str = "must be a Snowflake identifier";
const DURATION: &str = "must be a duration such as 72h";
const CROSS_NAMESPACE: &str = "cross-namespace references are not allowed";
const GRACE: &str = "renewed less than rotatedTokenGracePeriodHours before it expires";

/// Every case.
pub fn all() -> Vec<Case> {
    vec![
        token(
            "both PAT and OAuth",
            json!({"oauth": oauth()}),
            ONE_CREDENTIAL,
        ),
        token(
            "both PAT and key pair",
            json!({"keyPair": {}}),
            ONE_CREDENTIAL,
        ),
        key_pair(
            "both OAuth and key pair",
            json!({"oauth": oauth()}),
            ONE_CREDENTIAL,
        ),
        key_pair(
            "key of 1024 bits",
            json!({"keyPair": {"keySize": 1024}}),
            "supported values: \"2048\", \"4096\"",
        ),
        key_pair(
            "grace period as long as the rotation period",
            json!({"keyPair": {"rotationPeriod": "48h", "gracePeriod": "48h"}}),
            "gracePeriod must be shorter than rotationPeriod",
        ),
        key_pair(
            "grace period longer than the default rotation period",
            json!({"keyPair": {"gracePeriod": "2200h"}}),
            "gracePeriod must be shorter than rotationPeriod",
        ),
        key_pair(
            "rotation period under an hour",
            json!({"keyPair": {"rotationPeriod": "30m"}}),
            "must be between 1h and 8760h",
        ),
        key_pair(
            "rotation period in days",
            json!({"keyPair": {"rotationPeriod": "90d"}}),
            DURATION,
        ),
        key_pair(
            "unknown key format",
            json!({"keyPair": {"format": "PKCS1"}}),
            "Unsupported value",
        ),
        key_pair(
            "template replacing the private key",
            json!({"secret": {"template": {"private_key": "{{ private_key | lower }}"}}}),
            "a template cannot replace the credential key",
        ),
        token(
            "neither PAT nor OAuth",
            json!({"programmaticAccessToken": null}),
            ONE_CREDENTIAL,
        ),
        token(
            "both user references",
            json!({"user": {"serviceUserRef": {"name": "bi"}}}),
            ONE_USER,
        ),
        token(
            "neither user reference",
            json!({"user": {"name": null}}),
            ONE_USER,
        ),
        token(
            "daysToExpiry 0",
            json!({"programmaticAccessToken": {"daysToExpiry": 0}}),
            "should be greater than or equal to 1",
        ),
        token(
            "daysToExpiry 366",
            json!({"programmaticAccessToken": {"daysToExpiry": 366}}),
            "should be less than or equal to 365",
        ),
        token(
            "network-policy bypass above 1440 minutes",
            json!({"programmaticAccessToken": {"minsToBypassNetworkPolicyRequirement": 1441}}),
            "should be less than or equal to 1440",
        ),
        token(
            "renewBeforePercentage 100",
            json!({"programmaticAccessToken": {"renewBeforePercentage": 100}}),
            "should be less than or equal to 99",
        ),
        token(
            "grace period longer than the lifetime",
            json!({"programmaticAccessToken": {"daysToExpiry": 1, "rotatedTokenGracePeriodHours": 48}}),
            "rotatedTokenGracePeriodHours cannot exceed the token lifetime",
        ),
        token(
            "negative grace period",
            json!({"programmaticAccessToken": {"rotatedTokenGracePeriodHours": -1}}),
            "should be greater than or equal to 0",
        ),
        token(
            "malformed renewBefore",
            json!({"programmaticAccessToken": {"renewBefore": "3 days"}}),
            DURATION,
        ),
        token(
            "renewBefore in days",
            json!({"programmaticAccessToken": {"renewBefore": "3d"}}),
            DURATION,
        ),
        token(
            "renewBefore too large for Go",
            json!({"programmaticAccessToken": {"renewBefore": "99999999999999999999h"}}),
            DURATION,
        ),
        token(
            "renewBefore above a year",
            json!({"programmaticAccessToken": {"daysToExpiry": 365, "renewBefore": "8761h"}}),
            "must be between 1m and 8760h",
        ),
        token(
            "renewBefore shorter than the grace period",
            json!({"programmaticAccessToken": {"renewBefore": "12h"}}),
            GRACE,
        ),
        token(
            "renewBeforePercentage shorter than the grace period",
            json!({"programmaticAccessToken": {"renewBeforePercentage": 3}}),
            GRACE,
        ),
        token(
            "a one-day token keeping the default grace period",
            json!({"programmaticAccessToken": {"daysToExpiry": 1}}),
            GRACE,
        ),
        token(
            "token name with a dollar sign",
            json!({"programmaticAccessToken": {"tokenName": "PBI$1"}}),
            "must be a token name",
        ),
        token(
            "renewBefore and renewBeforePercentage",
            json!({"programmaticAccessToken": {"renewBefore": "72h", "renewBeforePercentage": 20}}),
            "set at most one of renewBefore and renewBeforePercentage",
        ),
        token(
            "renewBefore longer than the lifetime",
            json!({"programmaticAccessToken": {"renewBefore": "720h"}}),
            "renewBefore must be shorter than the token lifetime",
        ),
        token(
            "malformed role restriction",
            json!({"programmaticAccessToken": {"roleRestriction": "analyst-role"}}),
            IDENTIFIER,
        ),
        token(
            "malformed token name",
            json!({"programmaticAccessToken": {"tokenName": "1st token"}}),
            "must be a token name",
        ),
        token(
            "malformed user name",
            json!({"user": {"name": "bi svc"}}),
            IDENTIFIER,
        ),
        token(
            "unknown deletion policy",
            json!({"deletionPolicy": "Purge"}),
            "Unsupported value: \"Purge\"",
        ),
        token(
            "connection in another namespace",
            json!({"connectionRef": {"name": "prod", "namespace": "other"}}),
            CROSS_NAMESPACE,
        ),
        token(
            "service user in another namespace",
            json!({"user": {"name": null, "serviceUserRef": {"name": "bi", "namespace": "other"}}}),
            CROSS_NAMESPACE,
        ),
        token(
            "malformed Secret name",
            json!({"secret": {"name": "Power_BI"}}),
            "must be a Kubernetes object name",
        ),
        token(
            "unknown Secret type",
            json!({"secret": {"type": "kubernetes.io/tls"}}),
            "Unsupported value: \"kubernetes.io/tls\"",
        ),
        token(
            "template key that is not a Secret key",
            json!({"secret": {"template": {"conf/profiles.yml": "x"}}}),
            "template keys must be Secret keys",
        ),
        token(
            "label key that is not a Kubernetes key",
            json!({"secret": {"labels": {"team name": "bi"}}}),
            "labels keys must be Kubernetes keys",
        ),
        token(
            "label value that is not a label value",
            json!({"secret": {"labels": {"team": "business intelligence"}}}),
            "label values must be at most 63",
        ),
        token(
            "label value longer than 63 characters",
            json!({"secret": {"labels": {"team": "a".repeat(64)}}}),
            "may not be more than 63",
        ),
        token(
            "label overriding the managed-by label",
            json!({"secret": {"labels": {"app.kubernetes.io/managed-by": "helm"}}}),
            "labels cannot set app.kubernetes.io/managed-by",
        ),
        token(
            "label with the operator's prefix",
            json!({"secret": {"labels": {"snowflake-token-operator.io/token": "other"}}}),
            "labels cannot set app.kubernetes.io/managed-by or keys starting with snowflake-token-operator.io/",
        ),
        token(
            "annotation key that is not a Kubernetes key",
            json!({"secret": {"annotations": {"Example.COM/x": "y"}}}),
            "annotations keys must be Kubernetes keys",
        ),
        token(
            "annotation with the operator's prefix",
            json!({"secret": {"annotations": {"snowflake-token-operator.io/issued-at": "now"}}}),
            "annotations cannot set",
        ),
        token(
            "unknown rollout target kind",
            json!({"rolloutRestartTargets": [{"kind": "CronJob", "name": "nightly"}]}),
            "Unsupported value: \"CronJob\"",
        ),
        Case {
            name: "refresh-token Secret in another namespace",
            kind: Kind::Token,
            spec: merged(
                oauth_token(),
                json!({"oauth": {"refreshTokenSecretRef": {"namespace": "other"}}}),
            ),
            expected: "cross-namespace references are not allowed: the Secret",
        },
        Case {
            name: "malformed refreshBefore",
            kind: Kind::Token,
            spec: merged(oauth_token(), json!({"oauth": {"refreshBefore": "soon"}})),
            expected: DURATION,
        },
        Case {
            name: "refreshBefore too large for Go",
            kind: Kind::Token,
            spec: merged(
                oauth_token(),
                json!({"oauth": {"refreshBefore": "99999999999999999999h"}}),
            ),
            expected: DURATION,
        },
        Case {
            name: "refreshBefore longer than any access token lives",
            kind: Kind::Token,
            spec: merged(oauth_token(), json!({"oauth": {"refreshBefore": "2h"}})),
            expected: "must be between 1s and 1h",
        },
        Case {
            name: "refresh token validity above a year",
            kind: Kind::Token,
            spec: merged(
                oauth_token(),
                json!({"oauth": {"refreshTokenValidity": "9000h"}}),
            ),
            expected: "must be between 1h and 8760h",
        },
        Case {
            name: "refresh token validity too large for Go",
            kind: Kind::Token,
            spec: merged(
                oauth_token(),
                json!({"oauth": {"refreshTokenValidity": "99999999999999999999h"}}),
            ),
            expected: DURATION,
        },
        Case {
            name: "expiry warning shorter than an hour",
            kind: Kind::Token,
            spec: merged(
                oauth_token(),
                json!({"oauth": {"refreshTokenExpiryWarning": "30m"}}),
            ),
            expected: "must be between 1h and 8760h",
        },
        Case {
            name: "expiry warning longer than the refresh token validity",
            kind: Kind::Token,
            spec: merged(
                oauth_token(),
                json!({"oauth": {"refreshTokenExpiryWarning": "2400h"}}),
            ),
            expected: "refreshTokenExpiryWarning must be shorter than refreshTokenValidity",
        },
        Case {
            name: "malformed granted role",
            kind: Kind::ServiceUser,
            spec: merged(
                service_user(),
                json!({"roles": ["ANALYST", "data engineer"]}),
            ),
            expected: "every role must be a Snowflake identifier",
        },
        Case {
            name: "service user: unknown deletion policy",
            kind: Kind::ServiceUser,
            spec: merged(service_user(), json!({"deletionPolicy": "Purge"})),
            expected: "Unsupported value: \"Purge\"",
        },
        Case {
            name: "malformed default namespace",
            kind: Kind::ServiceUser,
            spec: merged(
                service_user(),
                json!({"defaultNamespace": "DB.SCHEMA.TABLE"}),
            ),
            expected: "must be a database or database.schema",
        },
        Case {
            name: "workload identity: a subject of another namespace",
            kind: Kind::ServiceUser,
            spec: merged(
                service_user(),
                json!({"workloadIdentity": {"serviceAccounts": ["system:serviceaccount:other:etl"]}}),
            ),
            expected: "only this namespace's service accounts can be trusted",
        },
        Case {
            name: "workload identity: namespace/name",
            kind: Kind::ServiceUser,
            spec: merged(
                service_user(),
                json!({"workloadIdentity": {"serviceAccounts": ["etl", "other/etl"]}}),
            ),
            expected: "a namespace or a full subject cannot be given",
        },
        Case {
            name: "workload identity: two names for one identity",
            kind: Kind::ServiceUser,
            spec: merged(
                service_user(),
                json!({"workloadIdentity": {"serviceAccounts": ["dbt-runner", "dbt.runner"]}}),
            ),
            expected: "both would be the same Snowflake workload identity",
        },
        Case {
            name: "workload identity: no service account",
            kind: Kind::ServiceUser,
            spec: merged(
                service_user(),
                json!({"workloadIdentity": {"serviceAccounts": []}}),
            ),
            expected: "should have at least 1 items",
        },
        Case {
            name: "workload identity: a service account twice",
            kind: Kind::ServiceUser,
            spec: merged(
                service_user(),
                json!({"workloadIdentity": {"serviceAccounts": ["etl", "etl"]}}),
            ),
            expected: "Duplicate value",
        },
        Case {
            name: "workload identity: an http issuer",
            kind: Kind::ServiceUser,
            spec: merged(
                service_user(),
                json!({"workloadIdentity": {"serviceAccounts": ["etl"], "issuer": "http://oidc.example.com"}}),
            ),
            expected: "must be an https URL",
        },
        Case {
            name: "workload identity: a relative token path",
            kind: Kind::ServiceUser,
            spec: merged(
                service_user(),
                json!({"workloadIdentity": {"serviceAccounts": ["etl"], "configMap": {"tokenPath": "token"}}}),
            ),
            expected: "must be an absolute file path",
        },
        Case {
            name: "workload identity: a malformed ConfigMap name",
            kind: Kind::ServiceUser,
            spec: merged(
                service_user(),
                json!({"workloadIdentity": {"serviceAccounts": ["etl"], "configMap": {"name": "Etl_Config"}}}),
            ),
            expected: "must be a Kubernetes object name",
        },
        Case {
            name: "service user: connection in another namespace",
            kind: Kind::ServiceUser,
            spec: merged(
                service_user(),
                json!({"connectionRef": {"namespace": "other"}}),
            ),
            expected: CROSS_NAMESPACE,
        },
        Case {
            name: "malformed account",
            kind: Kind::Connection,
            spec: merged(connection(), json!({"account": "my org"})),
            expected: "must be a Snowflake account identifier",
        },
        Case {
            name: "host with a path",
            kind: Kind::Connection,
            spec: merged(connection(), json!({"host": "https://example.com/api"})),
            expected: "must be a base URL",
        },
        Case {
            name: "private key without a key",
            kind: Kind::Connection,
            spec: merged(
                connection(),
                json!({"auth": {"keyPair": {"privateKeySecretRef": {"key": null}}}}),
            ),
            expected: "Required value",
        },
        Case {
            name: "private key Secret in another namespace",
            kind: Kind::Connection,
            spec: merged(
                connection(),
                json!({"auth": {"keyPair": {"privateKeySecretRef": {"namespace": "vault"}}}}),
            ),
            expected: CROSS_NAMESPACE,
        },
        Case {
            name: "malformed admin user",
            kind: Kind::Connection,
            spec: merged(connection(), json!({"user": "admin@corp"})),
            expected: IDENTIFIER,
        },
    ]
}
