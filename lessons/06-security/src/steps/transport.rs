//! Steps 3 and 4: TLS with a certificate made at start, HSTS; CORS and security headers.

use narrate::{heading, say, show};
use reqwest::Method;
use rustls::version::{TLS12, TLS13};
use sha2::{Digest, Sha256};

use super::{Demo, StepError, expect};
use crate::headers::{ALLOWED_ORIGIN, SECURITY_HEADERS, hsts};
use crate::lab;
use crate::tls::{self, SelfSigned};

pub async fn tls(demo: &Demo) -> Result<(), StepError> {
    heading(3, "HTTPS: rustls, a certificate made at start, HSTS");
    let identity = SelfSigned::generate()?;
    let fingerprint: Vec<String> = Sha256::digest(identity.cert.as_ref())[..8]
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    show(format_args!(
        "generated a self-signed certificate for {} (SHA-256 {}:...)",
        tls::CERT_NAMES.join(", "),
        fingerprint.join(":")
    ));
    let app = lab::router(demo.state.clone(), demo.limiter.clone()).layer(hsts());
    let server = tls::serve_https(
        ([127, 0, 0, 1], 0).into(),
        app,
        tls::server_config(&identity)?,
        demo.shutdown.clone(),
    )
    .await?;
    show(format_args!(
        "shop-http's server speaks HTTPS on {}",
        server.addr()
    ));

    say("A client that trusts exactly this certificate, offering h2 and http/1.1:");
    let trusting = tls::client_config(
        Some(&identity.cert),
        &[&TLS13, &TLS12],
        &[b"h2", b"http/1.1"],
    )?;
    let agreed = tls::handshake(server.addr(), "localhost", trusting).await?;
    show(format_args!(
        "{} · {} · ALPN {}",
        agreed.protocol,
        agreed.cipher_suite,
        agreed.alpn.as_deref().unwrap_or("none")
    ));
    expect(
        agreed.protocol == "TLSv1_3",
        "TLS 1.3 when both sides offer it",
        &agreed.protocol,
    )?;
    let old = tls::client_config(Some(&identity.cert), &[&TLS12], &[b"http/1.1"])?;
    let agreed12 = tls::handshake(server.addr(), "localhost", old).await?;
    show(format_args!(
        "a TLS 1.2-only client: {} · {} (ECDHE: forward secret)",
        agreed12.protocol, agreed12.cipher_suite
    ));

    say("One request over it (HTTP/1.1 written by hand: our reqwest has no TLS on purpose):");
    let http1 = tls::client_config(Some(&identity.cert), &[&TLS13], &[b"http/1.1"])?;
    let exchange = tls::https_get(server.addr(), "localhost", http1.clone(), "/api/orders").await?;
    show(format_args!("← {}", exchange.status_line));
    let hsts_value = exchange
        .header("strict-transport-security")
        .unwrap_or("(missing)");
    show(format_args!("strict-transport-security: {hsts_value}"));
    expect(
        exchange.header("strict-transport-security").is_some(),
        "HSTS on every HTTPS response",
        "no strict-transport-security header",
    )?;

    say("A client that does not know the certificate, and one that dialled another name:");
    let stranger = tls::client_config(None, &[&TLS13, &TLS12], &[b"http/1.1"])?;
    let refused = tls::handshake(server.addr(), "localhost", stranger).await;
    show(format_args!("no trust:   {}", outcome(&refused)));
    expect(
        refused.is_err(),
        "an unknown certificate is refused",
        "it was accepted",
    )?;
    let wrong_name = tls::handshake(server.addr(), "shop.test", http1).await;
    show(format_args!("wrong name: {}", outcome(&wrong_name)));
    expect(
        wrong_name.is_err(),
        "a certificate for another name is refused",
        "it was accepted",
    )?;
    server.begin_shutdown();
    server.stopped().await?;
    Ok(())
}

fn outcome(result: &Result<tls::Handshake, tls::TlsError>) -> String {
    match result {
        Ok(handshake) => format!("accepted ({})", handshake.protocol),
        Err(error) => error.to_string(),
    }
}

pub async fn cors_and_headers(demo: &Demo) -> Result<(), StepError> {
    heading(4, "CORS and security headers");
    let client = reqwest::Client::builder().no_proxy().build()?;
    let url = format!("{}/api/orders", demo.lab.base_url());
    say(format_args!(
        "Preflights (OPTIONS) for a POST with a JSON body; only {ALLOWED_ORIGIN} is allowed:"
    ));
    for origin in [ALLOWED_ORIGIN, "https://evil.example"] {
        let response = client
            .request(Method::OPTIONS, &url)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
            .await?;
        let allowed = response
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        show(format_args!(
            "from {origin:<22} {} · access-control-allow-origin: {}",
            response.status(),
            allowed
                .as_deref()
                .unwrap_or("(absent: the browser will not send the POST)")
        ));
        expect(
            (origin == ALLOWED_ORIGIN) == allowed.is_some(),
            "the allow-list decides the preflight",
            origin,
        )?;
    }
    say("CORS is not access control: without a browser, nobody enforces it.");
    let direct = client
        .get(&url)
        .header("origin", "https://evil.example")
        .send()
        .await?;
    show(format_args!(
        "GET with origin: https://evil.example from reqwest → {} and the body arrives anyway",
        direct.status()
    ));
    say("Security headers on every hardened response (and none on /vulnerable):");
    let fixed = client.get(&url).send().await?;
    for (name, _) in SECURITY_HEADERS {
        let value = fixed.headers().get(name).and_then(|v| v.to_str().ok());
        show(format_args!("{name}: {}", value.unwrap_or("(missing)")));
        expect(value.is_some(), "every security header is set", name)?;
    }
    let vulnerable = client
        .get(format!("{}/vulnerable/comments", demo.lab.base_url()))
        .send()
        .await?;
    let present = SECURITY_HEADERS
        .iter()
        .filter(|(name, _)| vulnerable.headers().contains_key(*name))
        .count();
    show(format_args!(
        "/vulnerable/comments carries {present} of the {}",
        SECURITY_HEADERS.len()
    ));
    Ok(())
}
