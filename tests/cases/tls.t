=== TEST 1: listen ... ssl without a certificate is a config error
--- http_config
server {
    listen 127.0.0.1:0 ssl;
}
--- config_error
no "ssl_certificate" is defined for the "listen ... ssl" directive

=== TEST 2: a missing certificate file is a config error naming it
--- http_config
server {
    listen 127.0.0.1:0 ssl;
    ssl_certificate missing.crt;
    ssl_certificate_key missing.key;
}
--- config_error
cannot load certificate "

=== TEST 3: a certificate without its key is a config error
--- http_config
server {
    listen 127.0.0.1:0 ssl;
    ssl_certificate missing.crt;
}
--- config_error
no "ssl_certificate_key" is defined for certificate "missing.crt"

=== TEST 4: protocols older than TLSv1.2 are refused (deliberate difference: nginx's OpenSSL still has them)
--- http_config
ssl_protocols TLSv1.1 TLSv1.2;
--- config_error
"TLSv1.1" is not supported: openclaw speaks TLSv1.2 and TLSv1.3 only in "ssl_protocols" directive

=== TEST 5: a cipher rustls does not implement is refused (deliberate difference: OpenSSL has it)
--- http_config
ssl_ciphers "ECDHE-RSA-AES128-GCM-SHA256:AES128-SHA";
--- config_error
unsupported cipher "AES128-SHA" in "ssl_ciphers" directive

=== TEST 6: $scheme and $https on a plain connection
--- config
location / { return 200 "$scheme [$https]"; }
--- request
GET /
--- response_body chomp
http []
