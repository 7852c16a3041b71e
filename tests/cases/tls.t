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

=== TEST 7: ssl_certificate_by_lua_block belongs to http or server
--- config
location / {
    ssl_certificate_by_lua_block { }
}
--- config_error
"ssl_certificate_by_lua_block" directive is not allowed here

=== TEST 8: one ssl_certificate_by_lua* per server
--- config
ssl_certificate_by_lua_block { }
ssl_certificate_by_lua_file cert.lua;
--- config_error
"ssl_certificate_by_lua_file" directive is duplicate

=== TEST 9: ngx.ssl on a plain connection: facts are "bad request", conversions check their input
--- config
location / {
    content_by_lua_block {
        local ssl = require "ngx.ssl"
        ngx.say(ssl.server_name())
        ngx.say(ssl.raw_server_addr())
        ngx.say(ssl.get_tls1_version_str())
        ngx.say(ssl.clear_certs())
        ngx.say(ssl.cert_pem_to_der("junk"))
        ngx.say(ssl.priv_key_pem_to_der("junk"))
        ngx.say(ssl.parse_pem_cert("junk"))
        ngx.say(ssl.parse_der_priv_key("junk"))
        ngx.say(ssl.TLS1_2_VERSION, " ", ssl.TLS1_3_VERSION)
        ngx.say(pcall(ssl.set_der_cert))
        ngx.say(pcall(ssl.set_cert, "pem"))
        ngx.say(pcall(ssl.verify_client))
    }
}
--- request
GET /
--- response_body_like
^nilbad request
nilnilbad request
nilbad request
nilbad request
nilPEM_read_bio_X509_AUX\(\) failed
nilPEM_read_bio_PrivateKey\(\) failed
nilPEM_read_bio_X509_AUX\(\) failed
nild2i_PrivateKey_bio\(\) failed
771 772
falsebad argument #1 to 'set_der_cert' \(string expected, got nil\)
falsebad argument #1 to 'set_cert' \(cdata expected, got string\)
falseAPI not supported by openclaw: ngx.ssl.verify_client
$

=== TEST 10: ngx.ssl outside a request or handshake: lua-resty-core's "no request found"
--- http_config
init_by_lua_block {
    local ssl = require "ngx.ssl"
    local ok, err = pcall(ssl.server_name)
    INIT_ERR = err
}
--- config
location / {
    content_by_lua_block { ngx.say(INIT_ERR) }
}
--- request
GET /
--- response_body
no request found
