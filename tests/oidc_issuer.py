"""An OpenID Connect issuer on loopback for chatstack's tests.

Serves a discovery document and a key set as an identity provider does,
and mints tokens with PyJWT (a JWT library independent of the authorizer's)
for the tests to present. Prints its port, then serves until killed.

    GET  /.well-known/openid-configuration   issuer and jwks_uri
    GET  /jwks                               the public keys (counted)
    GET  /reads                              how often each was read
    POST /mint   {"claims": {...}, "key": "rsa-1", "kid": "...", "alg": "RS256"}
                 alg "none" and "HS256" (keyed with the RSA key's public PEM)
                 make the forgeries the authorizer must refuse
    POST /rotate {"kid": "rsa-2"}           publishes a new RSA key
"""

import base64
import hashlib
import hmac
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

KEYS = {}
PUBLISHED = []
READS = {"discovery": 0, "jwks": 0}
LOCK = threading.Lock()


def new_key(kid, kind):
    if kind == "ec":
        key = ec.generate_private_key(ec.SECP256R1())
        alg = "ES256"
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        alg = "RS256"
    public = json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(key.public_key()))
    public.update({"kid": kid, "use": "sig", "alg": alg})
    KEYS[kid] = (key, alg, public)
    PUBLISHED.append(kid)


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(request):
    claims = request["claims"]
    key_name = request.get("key", "rsa-1")
    kid = request.get("kid", key_name)
    alg = request.get("alg")
    key, key_alg, _ = KEYS[key_name]
    if alg == "none":
        header = {"alg": "none", "typ": "JWT", "kid": kid}
        return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}."
    if alg == "HS256":
        # The algorithm confusion attack: HMAC keyed with the public key.
        secret = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        header = {"alg": "HS256", "typ": "JWT", "kid": kid}
        signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
        signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{b64(signature)}"
    return jwt.encode(claims, key, algorithm=key_alg, headers={"kid": kid})


class Issuer(BaseHTTPRequestHandler):
    def issuer(self):
        return f"http://127.0.0.1:{self.server.server_port}"

    def answer(self, document):
        body = json.dumps(document).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with LOCK:
            if self.path == "/.well-known/openid-configuration":
                READS["discovery"] += 1
                self.answer({
                    "issuer": self.issuer(),
                    "jwks_uri": self.issuer() + "/jwks",
                    "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                })
            elif self.path == "/jwks":
                READS["jwks"] += 1
                self.answer({"keys": [KEYS[kid][2] for kid in PUBLISHED]})
            elif self.path == "/reads":
                self.answer(READS)
            else:
                self.send_error(404)

    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with LOCK:
            if self.path == "/mint":
                self.answer({"token": mint(request)})
            elif self.path == "/rotate":
                new_key(request["kid"], request.get("kind", "rsa"))
                self.answer({"published": PUBLISHED})
            else:
                self.send_error(404)

    def log_message(self, *args):
        pass


def main():
    new_key("rsa-1", "rsa")
    new_key("ec-1", "ec")
    # A key the issuer holds but has not published: its tokens' kid is unknown.
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    KEYS["unpublished"] = (key, "RS256", None)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Issuer)
    print(server.server_port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
