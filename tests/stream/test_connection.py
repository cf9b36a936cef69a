"""Every Kafka client connects with the ENGINE_BROKER_* security settings (TLS, SASL)."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import faust
import pytest

from engine.errors import SettingsError
from engine.settings import load_settings
from engine.stream.app import create_app
from engine.stream.connection import client_options, faust_credentials


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate and its key (PEM), made with the openssl command."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


def test_plaintext_is_the_default_and_needs_no_credentials() -> None:
    settings = load_settings({"ENGINE_BROKER": "kafka://a:1,kafka://b:2"})
    assert client_options(settings) == {"bootstrap_servers": "a:1,b:2",
                                        "security_protocol": "PLAINTEXT"}
    assert faust_credentials(settings) is None


def test_sasl_over_tls_verifies_the_broker_against_the_configured_ca(
    certificate: tuple[Path, Path]
) -> None:
    cert, _ = certificate
    settings = load_settings({
        "ENGINE_BROKER_SECURITY_PROTOCOL": "sasl_ssl",
        "ENGINE_BROKER_SASL_MECHANISM": "SCRAM-SHA-512",
        "ENGINE_BROKER_SASL_USERNAME": "engine",
        "ENGINE_BROKER_SASL_PASSWORD": "pw",
        "ENGINE_BROKER_SSL_CAFILE": str(cert),
    })
    options = client_options(settings)
    assert options["security_protocol"] == "SASL_SSL"
    assert (options["sasl_mechanism"], options["sasl_plain_username"],
            options["sasl_plain_password"]) == ("SCRAM-SHA-512", "engine", "pw")
    context = options["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert any(c["subject"] == ((("commonName", "localhost"),),)
               for c in context.get_ca_certs())

    credentials = faust_credentials(settings)
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.mechanism.value == "SCRAM-SHA-512"


def test_mutual_tls_presents_the_client_certificate(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    settings = load_settings({
        "ENGINE_BROKER_SECURITY_PROTOCOL": "SSL",
        "ENGINE_BROKER_SSL_CAFILE": str(cert),
        "ENGINE_BROKER_SSL_CERTFILE": str(cert),
        "ENGINE_BROKER_SSL_KEYFILE": str(key),
    })
    assert "sasl_mechanism" not in client_options(settings)
    credentials = faust_credentials(settings)
    assert isinstance(credentials, faust.SSLCredentials)
    assert credentials.protocol.value == "SSL"


def test_the_worker_app_is_built_with_the_credentials() -> None:
    settings = load_settings({
        "ENGINE_BROKER_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "ENGINE_BROKER_SASL_USERNAME": "engine",
        "ENGINE_BROKER_SASL_PASSWORD": "pw",
    })
    app = create_app(settings)
    credentials = app.conf.broker_credentials
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol.value == "SASL_PLAINTEXT" and credentials.username == "engine"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"ENGINE_BROKER_SECURITY_PROTOCOL": "TLS"}, "ENGINE_BROKER_SECURITY_PROTOCOL"),
        ({"ENGINE_BROKER_SECURITY_PROTOCOL": "SASL_SSL"}, "ENGINE_BROKER_SASL_USERNAME"),
        ({"ENGINE_BROKER_SASL_USERNAME": "u", "ENGINE_BROKER_SASL_PASSWORD": "p"},
         "ENGINE_BROKER_SECURITY_PROTOCOL"),
        ({"ENGINE_BROKER_SSL_CAFILE": "/no/such/ca.pem", "ENGINE_BROKER_SECURITY_PROTOCOL": "SSL"},
         "ENGINE_BROKER_SSL_CAFILE"),
        ({"ENGINE_BROKER_SASL_MECHANISM": "GSSAPI"}, "ENGINE_BROKER_SASL_MECHANISM"),
    ],
)
def test_inconsistent_security_settings_stop_the_engine_naming_the_variable(
    env: dict[str, str], named: str
) -> None:
    with pytest.raises(SettingsError, match=named):
        load_settings(env)


def test_tls_files_with_a_plaintext_protocol_are_refused(certificate: tuple[Path, Path]) -> None:
    cert, _ = certificate
    with pytest.raises(SettingsError, match="ENGINE_BROKER_SECURITY_PROTOCOL"):
        load_settings({"ENGINE_BROKER_SSL_CAFILE": str(cert)})
    with pytest.raises(SettingsError, match="ENGINE_BROKER_SSL_CERTFILE"):
        load_settings({"ENGINE_BROKER_SECURITY_PROTOCOL": "SSL",
                       "ENGINE_BROKER_SSL_CERTFILE": str(cert)})
