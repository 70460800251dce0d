//! Names for addresses: a hop is easier to blame when it has one.
//!
//! Names come from three places, best last: the DNS answers the capture
//! itself holds (as Wireshark resolves them), a hosts file (`--names`), and
//! the JSON of `kubectl get pods,services -A -o json` (`--k8s`: pod,
//! namespace, node and the services selecting it). A [`Names`] table maps
//! an address to its best [`Name`]; connection records carry the names of
//! their two ends, and every view shows them beside the addresses.

pub mod hosts;
pub mod k8s;

use ahash::AHashMap;
use serde::Serialize;
use std::net::IpAddr;
use std::sync::Arc;

/// Addresses named at most (a capture's DNS answers may be hostile).
pub const MAX_NAMES: usize = 100_000;
/// The longest name kept (DNS's limit).
pub const MAX_NAME_LEN: usize = 255;

/// Where a name came from, in increasing trust: a later source wins over an
/// earlier one for the same address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NameSource {
    /// A DNS answer in the capture.
    Dns,
    /// A line of the `--names` hosts file.
    Hosts,
    /// A Kubernetes Service's cluster IP (`--k8s`).
    K8sService,
    /// A Kubernetes pod's IP (`--k8s`).
    K8sPod,
}

impl NameSource {
    /// Where the name came from, for text output.
    pub fn label(self) -> &'static str {
        match self {
            NameSource::Dns => "DNS answer in the capture",
            NameSource::Hosts => "--names",
            NameSource::K8sService => "--k8s service",
            NameSource::K8sPod => "--k8s pod",
        }
    }
}

/// A name for an address, with what else its source said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Name {
    /// The host, pod or service name.
    pub name: String,
    /// Where it came from.
    pub source: NameSource,
    /// The Kubernetes namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The node a pod runs on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The services whose selector picks the pod.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
}

impl Name {
    /// A name from `source`, with nothing else known.
    pub fn new(name: impl Into<String>, source: NameSource) -> Self {
        Name { name: name.into(), source, namespace: None, node: None, services: Vec::new() }
    }

    /// The short form for columns and titles: `shop/inventory-0` for a pod,
    /// `svc shop/inventory` for a service, the host name otherwise.
    pub fn label(&self) -> String {
        match (self.source, &self.namespace) {
            (NameSource::K8sPod, Some(ns)) => format!("{ns}/{}", self.name),
            (NameSource::K8sService, Some(ns)) => format!("svc {ns}/{}", self.name),
            _ => self.name.clone(),
        }
    }

    /// The long form, saying where it came from: `shop/inventory-0 (pod of
    /// service inventory on node n1; --k8s pod)`.
    pub fn described(&self) -> String {
        let mut about = Vec::new();
        if !self.services.is_empty() {
            about.push(format!("pod of service {}", self.services.join(", ")));
        }
        if let Some(node) = &self.node {
            about.push(format!("on node {node}"));
        }
        about.push(self.source.label().to_string());
        format!("{} ({})", self.label(), about.join("; "))
    }
}

/// The names of the addresses seen, each from its best source.
#[derive(Debug, Clone, Default)]
pub struct Names {
    by_ip: AHashMap<IpAddr, Arc<Name>>,
    /// Names not kept: the table was full.
    pub dropped: u64,
}

impl Names {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Names `ip`, unless a better source already did. Among names of one
    /// source the first stays, as in a hosts file, except DNS answers,
    /// where the latest is the one the client used next.
    pub fn insert(&mut self, ip: IpAddr, name: Name) {
        let ip = ip.to_canonical();
        let keep_old = self.by_ip.get(&ip).is_some_and(|old| {
            old.source > name.source || (old.source == name.source && name.source != NameSource::Dns)
        });
        if keep_old {
            return;
        }
        if self.by_ip.len() >= MAX_NAMES && !self.by_ip.contains_key(&ip) {
            self.dropped += 1;
            return;
        }
        self.by_ip.insert(ip, Arc::new(name));
    }

    /// Adds every entry.
    pub fn extend(&mut self, entries: impl IntoIterator<Item = (IpAddr, Name)>) {
        for (ip, name) in entries {
            self.insert(ip, name);
        }
    }

    /// The name of `ip`, if any.
    pub fn get(&self, ip: IpAddr) -> Option<&Arc<Name>> {
        self.by_ip.get(&ip.to_canonical())
    }

    /// Addresses named.
    pub fn len(&self) -> usize {
        self.by_ip.len()
    }

    /// No address is named.
    pub fn is_empty(&self) -> bool {
        self.by_ip.is_empty()
    }
}

/// A name that is safe to print: printable ASCII, at most [`MAX_NAME_LEN`]
/// bytes. Anything else from a file or a capture is refused, not escaped:
/// a name is for reading at a glance.
pub fn printable(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME_LEN && name.bytes().all(|b| (0x21..0x7f).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_better_source_wins_and_dns_answers_replace_each_other() {
        let mut n = Names::new();
        n.insert(ip("10.0.0.2"), Name::new("old.example", NameSource::Dns));
        n.insert(ip("10.0.0.2"), Name::new("new.example", NameSource::Dns));
        assert_eq!(n.get(ip("10.0.0.2")).unwrap().name, "new.example");
        n.insert(ip("10.0.0.2"), Name::new("inventory", NameSource::Hosts));
        n.insert(ip("10.0.0.2"), Name::new("later.example", NameSource::Dns));
        n.insert(ip("10.0.0.2"), Name::new("second-line", NameSource::Hosts));
        assert_eq!(n.get(ip("10.0.0.2")).unwrap().name, "inventory");
        // An IPv4-mapped IPv6 address is the IPv4 one.
        assert_eq!(n.get(ip("::ffff:10.0.0.2")).unwrap().name, "inventory");
    }

    #[test]
    fn labels_are_short_and_descriptions_say_where_from() {
        let pod = Name {
            namespace: Some("shop".into()),
            node: Some("node-1".into()),
            services: vec!["inventory".into()],
            ..Name::new("inventory-0", NameSource::K8sPod)
        };
        assert_eq!(pod.label(), "shop/inventory-0");
        assert_eq!(pod.described(), "shop/inventory-0 (pod of service inventory; on node node-1; --k8s pod)");
        let svc = Name { namespace: Some("shop".into()), ..Name::new("inventory", NameSource::K8sService) };
        assert_eq!(svc.label(), "svc shop/inventory");
        assert!(!printable("evil\u{1b}[2J"));
        assert!(printable("inventory.shop.svc.cluster.local"));
    }

    #[test]
    fn the_table_is_capped() {
        let mut n = Names::new();
        for i in 0..(MAX_NAMES as u32 + 5) {
            n.insert(IpAddr::V4(i.into()), Name::new("x", NameSource::Dns));
        }
        assert_eq!((n.len(), n.dropped), (MAX_NAMES, 5));
    }
}
