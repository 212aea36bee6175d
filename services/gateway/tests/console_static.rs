#![allow(clippy::unwrap_used)]
//! The web console's files at `/console/`: the app for its own routes, caching and
//! security headers, nothing outside its folder, the page shown when it is not built, and
//! `/` sending browsers there.

use std::path::Path;

use kumo_gateway::ConsoleConfig;
use kumo_identity::{Identity, IdentityConfig, MasterKey};

/// A gateway serving the console from `dir`; its base URL.
async fn gateway(dir: &Path) -> String {
    let pool = kumo_catalog::testing::fresh_database().await.unwrap();
    let identity = Identity::new(pool.clone(), MasterKey::random(), IdentityConfig::default());
    kumo_identity::bootstrap::ensure_operator(&pool, &identity.master_key)
        .await
        .unwrap();
    let services = kumo_gateway::Services {
        identity,
        compute: kumo_compute::Compute::new(pool.clone(), Default::default()),
        object_storage: kumo_object_storage::ObjectStorage::new(pool.clone(), Default::default()),
        network: kumo_network::Network::new(pool.clone(), Default::default()),
        block_storage: kumo_block_storage::BlockStorage::new(pool, Default::default()),
    };
    let app = kumo_gateway::app_with_console(
        services,
        Default::default(),
        ConsoleConfig {
            dir: dir.to_path_buf(),
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn header(resp: &reqwest::Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

fn assert_security_headers(resp: &reqwest::Response) {
    assert_eq!(
        header(resp, "content-security-policy"),
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'"
    );
    assert_eq!(header(resp, "x-content-type-options"), "nosniff");
    assert_eq!(header(resp, "referrer-policy"), "same-origin");
    assert_eq!(header(resp, "x-frame-options"), "DENY");
}

#[tokio::test]
async fn serves_the_built_console() {
    let root = tempfile::tempdir().unwrap();
    let dist = root.path().join("dist");
    std::fs::create_dir_all(dist.join("assets")).unwrap();
    std::fs::write(
        dist.join("index.html"),
        "<!doctype html><title>Kumo</title>",
    )
    .unwrap();
    std::fs::write(dist.join("assets/app-1a2b.js"), "console.log(1)").unwrap();
    std::fs::write(dist.join("favicon.svg"), "<svg/>").unwrap();
    std::fs::write(root.path().join("secret.txt"), "top secret").unwrap();
    std::os::unix::fs::symlink(root.path().join("secret.txt"), dist.join("link.txt")).unwrap();
    std::os::unix::fs::symlink(root.path(), dist.join("outside")).unwrap();
    let url = gateway(&dist).await;
    let http = client();

    let resp = http.get(format!("{url}/console")).send().await.unwrap();
    assert_eq!(resp.status(), 308);
    assert_eq!(header(&resp, "location"), "/console/");

    for path in [
        "/console/",
        "/console/instances",
        "/console/instances/i-0123abcd",
    ] {
        let resp = http.get(format!("{url}{path}")).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        assert_eq!(header(&resp, "content-type"), "text/html; charset=utf-8");
        assert_eq!(header(&resp, "cache-control"), "no-cache");
        assert_security_headers(&resp);
        assert_eq!(
            resp.text().await.unwrap(),
            "<!doctype html><title>Kumo</title>"
        );
    }
    let resp = http
        .get(format!("{url}/console/assets/app-1a2b.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        header(&resp, "content-type"),
        "text/javascript; charset=utf-8"
    );
    assert_eq!(
        header(&resp, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert_security_headers(&resp);
    assert_eq!(resp.text().await.unwrap(), "console.log(1)");
    let resp = http
        .get(format!("{url}/console/favicon.svg"))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&resp, "content-type"), "image/svg+xml");
    // HEAD works as GET without the body.
    let resp = http.head(format!("{url}/console/")).send().await.unwrap();
    assert_eq!(resp.status(), 200);

    // A missing file with an extension is a 404, not the app.
    let resp = http
        .get(format!("{url}/console/assets/missing.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);

    // Nothing outside the folder: `..` in any spelling, and links leading out.
    for path in [
        "/console/../secret.txt",
        "/console/%2e%2e/secret.txt",
        "/console/assets/%2e%2e/%2e%2e/secret.txt",
        "/console/..%2fsecret.txt",
        "/console/%2e%2e%5csecret.txt",
        "/console/link.txt",
    ] {
        let resp = http.get(format!("{url}{path}")).send().await.unwrap();
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap();
        assert!(!body.contains("top secret"), "{path}: {status} {body}");
        assert_ne!(status, 200, "{path}: {body}");
    }

    // Absolute paths, NUL, directories, links to folders outside and very long names
    // give the app or a refusal, never a file from elsewhere or a listing.
    let long = format!("/console/{}", "a/".repeat(3000));
    for path in [
        "/console//etc/passwd",
        "/console/%2Fetc%2Fpasswd",
        "/console/%00",
        "/console/index.html%00.js",
        "/console/outside/secret.txt",
        "/console/outside/",
        "/console/assets/",
        long.as_str(),
    ] {
        let resp = http.get(format!("{url}{path}")).send().await.unwrap();
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap();
        assert!(
            !body.contains("top secret") && !body.contains("root:") && !body.contains("app-1a2b"),
            "{path}: {status} {body}"
        );
        assert!(
            status == 200 && body == "<!doctype html><title>Kumo</title>" || status >= 400,
            "{path}: {status} {body}"
        );
    }

    // Everything else on this origin (S3 objects above all: a tenant's HTML must not run
    // as the console) is sandboxed; the console's files keep their own policy.
    for path in [
        "/some-bucket/page.html",
        "/v1/no-such-route",
        "/healthz",
        "/",
    ] {
        let resp = http.get(format!("{url}{path}")).send().await.unwrap();
        assert_eq!(
            header(&resp, "content-security-policy"),
            kumo_gateway::UNTRUSTED_CONTENT_POLICY,
            "{path}"
        );
        assert_eq!(header(&resp, "x-content-type-options"), "nosniff", "{path}");
    }
    assert!(kumo_gateway::UNTRUSTED_CONTENT_POLICY.starts_with("sandbox;"));

    // `/`: a browser goes to the console; API clients get the JSON as before.
    let resp = http
        .get(format!("{url}/"))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    assert_eq!(header(&resp, "location"), "/console/");
    let resp = http.get(format!("{url}/")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("native_api"));
    let resp = http
        .get(format!("{url}/?Action=GetCallerIdentity"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_ne!(resp.status(), 302);

    // The console's paths are not S3's (a bucket named `console` stays reachable signed).
    let resp = http.put(format!("{url}/console/x")).send().await.unwrap();
    assert_eq!(resp.status(), 405);
}

#[tokio::test]
async fn says_how_to_build_a_missing_console() {
    let root = tempfile::tempdir().unwrap();
    let dist = root.path().join("not-built");
    let url = gateway(&dist).await;
    for path in ["/console/", "/console/instances"] {
        let resp = client().get(format!("{url}{path}")).send().await.unwrap();
        assert_eq!(resp.status(), 503, "{path}");
        assert_eq!(header(&resp, "content-type"), "text/html; charset=utf-8");
        assert_security_headers(&resp);
        let page = resp.text().await.unwrap();
        assert!(page.contains("not built"), "{page}");
        assert!(page.contains(&dist.display().to_string()), "{page}");
        assert!(
            page.contains(
                "npm --prefix web-console ci &amp;&amp; npm --prefix web-console run build"
            ),
            "{page}"
        );
    }
    // The APIs work without it.
    let resp = client().get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}
