"""The local CA: a certificate that verifies, kept while fresh, renewed before expiry."""

import ssl
from pathlib import Path

import pytest
from cryptography import x509

from flightdeck.local.tls import TlsFiles, ensure_certificate, server_certificate_expiry

pytestmark = pytest.mark.unit


def serial(files: TlsFiles) -> int:
    return x509.load_pem_x509_certificate(files.server_cert.read_bytes()).serial_number


def test_the_certificate_verifies_against_the_ca_and_is_kept_while_fresh(tmp_path: Path) -> None:
    files = TlsFiles(tmp_path)
    assert ensure_certificate(files, "localhost", days=90, renew_before_days=30)
    context = ssl.create_default_context(cafile=str(files.ca_cert))
    context.load_cert_chain(files.server_cert, files.server_key)  # key and certificate match
    certificate = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert files.server_key.stat().st_mode & 0o777 == 0o600
    first = serial(files)
    assert not ensure_certificate(files, "localhost", days=90, renew_before_days=30)
    assert serial(files) == first


def test_a_certificate_inside_the_renewal_window_is_renewed(tmp_path: Path) -> None:
    files = TlsFiles(tmp_path)
    ensure_certificate(files, "localhost", days=10, renew_before_days=5)
    first, expiry = serial(files), server_certificate_expiry(files)
    # 10 days left, renewal 30 days before expiry: renewed, by the same CA.
    ca = files.ca_cert.read_bytes()
    assert ensure_certificate(files, "localhost", days=90, renew_before_days=30)
    assert serial(files) != first
    assert server_certificate_expiry(files) > expiry  # type: ignore[operator]
    assert files.ca_cert.read_bytes() == ca


def test_a_new_server_name_gets_a_new_certificate(tmp_path: Path) -> None:
    files = TlsFiles(tmp_path)
    ensure_certificate(files, "localhost", days=90, renew_before_days=30)
    assert ensure_certificate(files, "flightdeck.test", days=90, renew_before_days=30)
    certificate = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["flightdeck.test", "localhost"]
