//! `--k8s FILE`: the JSON of `kubectl get pods,services -A -o json` (a
//! `List` of Pods and Services; a `PodList` or `ServiceList`, or one
//! object, also do). A pod's IPs are named by the pod, with its namespace,
//! its node and the services whose selector picks it; a service's cluster
//! IPs by the service. Pods on the host network share their node's address
//! and name nothing.

use super::{printable, Name, NameSource};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Why the file names nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct K8sError(pub String);

impl std::fmt::Display for K8sError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Objects read at most (a cluster's pods and services).
const MAX_OBJECTS: usize = 1_000_000;

/// The names a `kubectl ... -o json` document gives.
pub fn parse(json: &str) -> Result<Vec<(IpAddr, Name)>, K8sError> {
    let doc: Value = serde_json::from_str(json).map_err(|e| K8sError(format!("not JSON: {e}")))?;
    let items: Vec<&Value> = match doc.get("items").and_then(Value::as_array) {
        Some(items) => items.iter().take(MAX_OBJECTS).collect(),
        None => vec![&doc],
    };
    let kind = |v: &Value| v.get("kind").and_then(Value::as_str).unwrap_or_default().to_string();
    let services: Vec<Service> = items.iter().filter(|v| kind(v) == "Service").filter_map(|v| Service::of(v)).collect();
    let mut out = Vec::new();
    for item in &items {
        match kind(item).as_str() {
            "Pod" => pod(item, &services, &mut out),
            "Service" => {}
            _ => continue,
        }
    }
    for s in &services {
        for ip in &s.cluster_ips {
            let name = Name { namespace: Some(s.namespace.clone()), ..Name::new(&s.name, NameSource::K8sService) };
            out.push((*ip, name));
        }
    }
    let pods_or_services = items.iter().any(|v| matches!(kind(v).as_str(), "Pod" | "Service"));
    if !pods_or_services {
        return Err(K8sError(
            "holds no Pod or Service (make it with: kubectl get pods,services -A -o json > cluster.json)".into(),
        ));
    }
    Ok(out)
}

fn text<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

fn labels(v: &Value, path: &[&str]) -> BTreeMap<String, String> {
    let Some(map) = path.iter().try_fold(v, |v, k| v.get(k)).and_then(Value::as_object) else {
        return BTreeMap::new();
    };
    map.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect()
}

/// What a Service says that names addresses and picks pods.
struct Service {
    name: String,
    namespace: String,
    cluster_ips: Vec<IpAddr>,
    selector: BTreeMap<String, String>,
}

impl Service {
    fn of(v: &Value) -> Option<Service> {
        let name = text(v, &["metadata", "name"]).filter(|n| printable(n))?.to_string();
        let namespace = text(v, &["metadata", "namespace"]).filter(|n| printable(n)).unwrap_or("default").to_string();
        let mut cluster_ips: Vec<IpAddr> = v
            .pointer("/spec/clusterIPs")
            .and_then(Value::as_array)
            .map(|ips| ips.iter().filter_map(|ip| ip.as_str()?.parse().ok()).collect())
            .unwrap_or_default();
        // Older servers give only spec.clusterIP ("None" for a headless service).
        if let Some(ip) = text(v, &["spec", "clusterIP"]).and_then(|ip| ip.parse().ok()) {
            if !cluster_ips.contains(&ip) {
                cluster_ips.push(ip);
            }
        }
        Some(Service { name, namespace, cluster_ips, selector: labels(v, &["spec", "selector"]) })
    }

    /// Its selector picks a pod with these labels in `namespace`.
    fn selects(&self, namespace: &str, pod_labels: &BTreeMap<String, String>) -> bool {
        self.namespace == namespace
            && !self.selector.is_empty()
            && self.selector.iter().all(|(k, v)| pod_labels.get(k) == Some(v))
    }
}

fn pod(v: &Value, services: &[Service], out: &mut Vec<(IpAddr, Name)>) {
    let Some(name) = text(v, &["metadata", "name"]).filter(|n| printable(n)) else { return };
    if v.pointer("/spec/hostNetwork").and_then(Value::as_bool) == Some(true) {
        return;
    }
    let namespace = text(v, &["metadata", "namespace"]).filter(|n| printable(n)).unwrap_or("default");
    let pod_labels = labels(v, &["metadata", "labels"]);
    let mut ips: Vec<IpAddr> = v
        .pointer("/status/podIPs")
        .and_then(Value::as_array)
        .map(|ips| ips.iter().filter_map(|ip| ip.get("ip")?.as_str()?.parse().ok()).collect())
        .unwrap_or_default();
    if let Some(ip) = text(v, &["status", "podIP"]).and_then(|ip| ip.parse().ok()) {
        if !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    let name = Name {
        namespace: Some(namespace.to_string()),
        node: text(v, &["spec", "nodeName"]).filter(|n| printable(n)).map(str::to_string),
        services: services.iter().filter(|s| s.selects(namespace, &pod_labels)).map(|s| s.name.clone()).collect(),
        ..Name::new(name, NameSource::K8sPod)
    };
    out.extend(ips.into_iter().map(|ip| (ip, name.clone())));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape `kubectl get pods,services -A -o json` prints (trimmed to
    /// the fields read, plus some it ignores).
    const CLUSTER: &str = r#"{
      "apiVersion": "v1", "kind": "List",
      "items": [
        {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": "inventory-7d9f-x2k4p", "namespace": "shop", "labels": {"app": "inventory", "pod-template-hash": "7d9f"}},
         "spec": {"nodeName": "node-a", "containers": [{"name": "server"}]},
         "status": {"phase": "Running", "podIP": "10.244.1.7", "podIPs": [{"ip": "10.244.1.7"}, {"ip": "fd00::7"}]}},
        {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": "kube-proxy-abcde", "namespace": "kube-system", "labels": {"k8s-app": "kube-proxy"}},
         "spec": {"nodeName": "node-a", "hostNetwork": true},
         "status": {"podIP": "192.168.0.10"}},
        {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": "checkout-5c6b-q9w8e", "namespace": "shop", "labels": {"app": "checkout"}},
         "spec": {"nodeName": "node-b"},
         "status": {"podIP": "10.244.2.9"}},
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": "inventory", "namespace": "shop"},
         "spec": {"type": "ClusterIP", "clusterIP": "10.96.12.34", "clusterIPs": ["10.96.12.34"], "selector": {"app": "inventory"}, "ports": [{"port": 50051}]}},
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": "inventory-headless", "namespace": "shop"},
         "spec": {"clusterIP": "None", "selector": {"app": "inventory"}}},
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": "inventory", "namespace": "staging"},
         "spec": {"clusterIP": "10.96.99.1", "selector": {"app": "inventory"}}}
      ]
    }"#;

    #[test]
    fn pods_are_named_with_namespace_node_and_services_and_services_by_cluster_ip() {
        let entries = parse(CLUSTER).unwrap();
        let find = |ip: &str| entries.iter().find(|(a, _)| a.to_string() == ip).map(|(_, n)| n.clone());
        let pod = find("10.244.1.7").unwrap();
        assert_eq!(
            pod.described(),
            "shop/inventory-7d9f-x2k4p (pod of service inventory, inventory-headless; on node node-a; --k8s pod)"
        );
        assert_eq!(find("fd00::7").unwrap().name, "inventory-7d9f-x2k4p");
        assert!(find("10.244.2.9").unwrap().services.is_empty(), "no service selects checkout");
        assert!(find("192.168.0.10").is_none(), "a host-network pod's address is its node's");
        assert_eq!(find("10.96.12.34").unwrap().label(), "svc shop/inventory");
        assert_eq!(find("10.96.99.1").unwrap().label(), "svc staging/inventory");
        assert_eq!(entries.len(), 5);
    }

    #[test]
    fn other_documents_say_what_to_give_instead() {
        assert!(parse("{").unwrap_err().0.starts_with("not JSON: "));
        let none = parse(r#"{"kind": "List", "items": [{"kind": "Node"}]}"#).unwrap_err();
        assert!(none.0.contains("kubectl get pods,services -A -o json"), "{none}");
        let one = parse(r#"{"kind": "Pod", "metadata": {"name": "p"}, "status": {"podIP": "10.0.0.1"}}"#).unwrap();
        assert_eq!(one[0].1.label(), "default/p");
    }
}
