//! Network-policy IP checks: a user's policy (or else the account's) admits a client
//! only if its allowed IP list is empty or contains the client's address (an exact
//! address or a CIDR block).

use std::net::IpAddr;

use super::state::{AccountState, User};

/// True when `entry` (`a.b.c.d`, `a.b.c.d/n`, or IPv6 forms) contains `ip`.
pub fn ip_matches(entry: &str, ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    let (address, prefix) = match entry.trim().split_once('/') {
        Some((address, prefix)) => (address, prefix.parse::<u32>().ok()),
        None => (entry.trim(), None),
    };
    let Ok(network) = address.parse::<IpAddr>() else {
        return false;
    };
    match (network.to_canonical(), ip) {
        (IpAddr::V4(network), IpAddr::V4(ip)) => {
            let bits = prefix.unwrap_or(32);
            if bits > 32 {
                return false;
            }
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(network) & mask == u32::from(ip) & mask
        }
        (IpAddr::V6(network), IpAddr::V6(ip)) => {
            let bits = prefix.unwrap_or(128);
            if bits > 128 {
                return false;
            }
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(network) & mask == u128::from(ip) & mask
        }
        _ => false,
    }
}

/// Whether the policy governing `user` admits `ip`.
pub fn admits(state: &AccountState, user: &User, ip: IpAddr) -> bool {
    let Some(policy) = user
        .network_policy
        .as_ref()
        .or(state.account_network_policy.as_ref())
    else {
        return true;
    };
    match state.network_policies.get(policy) {
        Some(allowed) if !allowed.is_empty() => allowed.iter().any(|entry| ip_matches(entry, ip)),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_addresses_and_cidr_blocks() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(ip_matches("127.0.0.1", ip("127.0.0.1")));
        assert!(ip_matches("10.0.0.0/8", ip("10.200.3.4")));
        assert!(!ip_matches("10.0.0.0/8", ip("11.0.0.1")));
        assert!(ip_matches("0.0.0.0/0", ip("8.8.8.8")));
        assert!(ip_matches("127.0.0.1", ip("::ffff:127.0.0.1")));
        assert!(ip_matches("::1", ip("::1")));
        assert!(!ip_matches("10.0.0.0/33", ip("10.0.0.1")));
        assert!(!ip_matches("garbage", ip("10.0.0.1")));
    }
}
