=== TEST 1: limit_req with no burst rejects the second request in the same interval
--- http_config
limit_req_zone $binary_remote_addr zone=one:1m rate=1r/m;
--- config
location /t { limit_req zone=one; content_by_lua_block { ngx.say("ok") } }
--- requests
GET /t
GET /t
--- error_codes: 200 503
--- error_log
limiting requests, excess: 
by zone "one", client: 127.0.0.1

=== TEST 2: burst with nodelay admits the burst at once, then rejects; limit_req_status
--- http_config
limit_req_zone $uri zone=b:1m rate=1r/m;
--- config
limit_req_status 429;
location /t { limit_req zone=b burst=2 nodelay; content_by_lua_block { ngx.say("ok") } }
--- requests
GET /t
GET /t
GET /t
GET /t
--- error_codes: 200 200 200 429

=== TEST 3: an empty key is not limited
--- http_config
limit_req_zone $http_x_key zone=k:1m rate=1r/m;
--- config
location /t { limit_req zone=k; content_by_lua_block { ngx.say("ok") } }
--- requests
GET /t
GET /t
GET /t
--- error_codes: 200 200 200

=== TEST 4: limit_req_dry_run logs but lets requests through; $limit_req_status tells
--- http_config
limit_req_zone $binary_remote_addr zone=d:1m rate=1r/m;
log_format st '$request_uri $limit_req_status';
--- config
access_log logs/access.log st;
location /t { limit_req zone=d; limit_req_dry_run on; content_by_lua_block { ngx.say("ok") } }
--- requests
GET /t?first
GET /t?second
--- error_codes: 200 200
--- error_log
limiting requests, dry run, excess: 
by zone "d", client: 127.0.0.1
--- access_log
/t?first PASSED
/t?second REJECTED_DRY_RUN

=== TEST 5: a burst without nodelay delays the excess request
--- http_config
limit_req_zone $binary_remote_addr zone=w:1m rate=1r/s;
--- config
location /t { limit_req zone=w burst=5; content_by_lua_block { ngx.say("ok") } }
--- requests
GET /t
GET /t
--- error_codes: 200 200
--- error_log
delaying request, excess:
by zone "w"

=== TEST 6: limit_req needs a known zone
--- config
location /t { limit_req zone=nope; }
--- config_error
zero size shared memory zone "nope"
