"""Make a CA, two server certificates for 127.0.0.1 and localhost, and a client certificate.

Usage: tls_certs.py DIR
Writes DIR/{ca,server,server2,client,stranger}.{pem,key}; `stranger` is a client certificate
from a CA the server does not trust.
"""

import datetime
import ipaddress
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = datetime.datetime.now(datetime.timezone.utc)


def key():
    return ec.generate_private_key(ec.SECP256R1())


def write(path, name, cert, private_key):
    with open(f"{path}/{name}.pem", "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(f"{path}/{name}.key", "wb") as f:
        f.write(private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


def ca(name):
    k = key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(k.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(minutes=5))
        .not_valid_after(NOW + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .sign(k, hashes.SHA256())
    )
    return cert, k


def leaf(issuer, issuer_key, name, usage):
    k = key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(issuer.subject)
        .public_key(k.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(minutes=5))
        .not_valid_after(NOW + datetime.timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if usage == ExtendedKeyUsageOID.SERVER_AUTH:
        names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256()), k


def main():
    path = sys.argv[1]
    root, root_key = ca("lookout test CA")
    write(path, "ca", root, root_key)
    for name in ["server", "server2"]:
        write(path, name, *leaf(root, root_key, f"lookout {name}", ExtendedKeyUsageOID.SERVER_AUTH))
    write(path, "client", *leaf(root, root_key, "otlp client", ExtendedKeyUsageOID.CLIENT_AUTH))
    other, other_key = ca("another CA")
    write(path, "stranger", *leaf(other, other_key, "stranger", ExtendedKeyUsageOID.CLIENT_AUTH))


if __name__ == "__main__":
    main()
