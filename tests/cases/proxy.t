=== TEST 1: proxy_pass without a URI part passes the request URI unchanged
--- config
location / { proxy_pass http://$UP1; }
--- request
GET /foo/bar?a=1&b=2
--- error_code: 200
--- response_body
up1 GET /foo/bar?a=1&b=2

=== TEST 2: a URI part replaces the matched location prefix
--- config
location /api/ { proxy_pass http://$UP1/v1/; }
--- request
GET /api/users?x=1
--- error_code: 200
--- response_body
up1 GET /v1/users?x=1

=== TEST 3: a bare / URI part strips the prefix
--- config
location /app/ { proxy_pass http://$UP1/; }
--- request
GET /app/a/b
--- response_body
up1 GET /a/b

=== TEST 4: the raw request URI goes upstream as received
--- config
location / { proxy_pass http://$UP1; }
--- request
GET /a%20b//c
--- response_body
up1 GET /a%20b//c

=== TEST 5: a URI changed by rewrite ... break is sent as changed, with the arguments
--- config
location / {
    rewrite ^/old/(.*)$ /new/$1 break;
    proxy_pass http://$UP1;
}
--- request
GET /old/x?q=1
--- response_body
up1 GET /new/x?q=1

=== TEST 6: default headers: Host $proxy_host, Connection close, HTTP/1.0, client headers after
--- config
location / { proxy_pass http://$UP1; }
--- request
GET /echo
--- more_headers
X-Foo: bar
--- response_body
GET /echo HTTP/1.0
host: $UP1
connection: close
x-foo: bar
--

=== TEST 7: proxy_set_header with $host, $remote_addr and $proxy_add_x_forwarded_for
--- config
location / {
    proxy_set_header Host $host;
    proxy_set_header X-Real-IP $remote_addr;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_pass http://$UP1;
}
--- request
GET /echo
--- more_headers
X-Forwarded-For: 10.0.0.1
--- response_body
GET /echo HTTP/1.0
host: localhost
x-real-ip: 127.0.0.1
x-forwarded-for: 10.0.0.1, 127.0.0.1
connection: close
--

=== TEST 8: proxy_set_header with an empty value removes the header
--- config
location / {
    proxy_set_header Accept-Encoding "";
    proxy_pass http://$UP1;
}
--- request
GET /echo
--- more_headers
Accept-Encoding: gzip
X-Keep: 1
--- response_body
GET /echo HTTP/1.0
host: $UP1
connection: close
x-keep: 1
--

=== TEST 9: the request body is forwarded with its length
--- config
location / { proxy_pass http://$UP1; }
--- request
POST /echo
--- request_body chomp
hello
--- response_body chomp
POST /echo HTTP/1.0
host: $UP1
connection: close
content-length: 5
--
hello

=== TEST 10: proxy_http_version 1.1 and hop-by-hop request headers are dropped
--- config
location / {
    proxy_http_version 1.1;
    proxy_pass http://$UP1;
}
--- request
GET /echo
--- more_headers
Keep-Alive: timeout=5
TE: trailers
Upgrade: foo
X-A: 1
--- response_body
GET /echo HTTP/1.1
host: $UP1
connection: close
x-a: 1
--

=== TEST 11: a refused connection is 502 with nginx's error line
--- config
location / { proxy_pass http://$DEAD; }
--- request
GET /t
--- error_code: 502
--- response_body_like
<title>502 Bad Gateway</title>
--- error_log
connect() failed (111: Connection refused) while connecting to upstream
upstream: "http://$DEAD/t"

=== TEST 12: no response header within proxy_read_timeout is 504
--- config
location / {
    proxy_read_timeout 300ms;
    proxy_pass http://$UP1;
}
--- request
GET /hang
--- error_code: 504
--- error_log
upstream timed out (110: Connection timed out) while reading response header from upstream

=== TEST 13: a connect that never completes is 504 after proxy_connect_timeout
--- config
location / {
    proxy_connect_timeout 300ms;
    proxy_pass http://$BLACKHOLE;
}
--- request
GET /t
--- error_code: 504
--- error_log
upstream timed out (110: Connection timed out) while connecting to upstream

=== TEST 14: an upstream closing before answering is 502
--- config
location / { proxy_pass http://$UP1; }
--- request
GET /close
--- error_code: 502
--- error_log
upstream prematurely closed connection while reading response header from upstream

=== TEST 15: an invalid upstream header is 502
--- config
location / { proxy_pass http://$UP1; }
--- request
GET /badheader
--- error_code: 502
--- error_log
upstream sent invalid header

=== TEST 16: every peer failed: no live upstreams
--- http_config
upstream dead { server $DEAD; server $DEAD max_fails=1; }
--- config
location / { proxy_pass http://dead; }
--- requests
GET /t
GET /t
--- error_codes: 502 502
--- error_log
connect() failed (111: Connection refused) while connecting to upstream
upstream server temporarily disabled
no live upstreams while connecting to upstream

=== TEST 17: round robin with equal weights alternates
--- http_config
upstream be { server $UP1; server $UP2; }
--- config
location / { proxy_pass http://be; }
--- requests
GET /n
GET /n
GET /n
GET /n
--- error_codes: 200 200 200 200
--- bodies
up1 GET /n
up2 GET /n
up1 GET /n
up2 GET /n

=== TEST 18: weights 3:1 give nginx's smooth sequence
--- http_config
upstream be { server $UP1 weight=3; server $UP2; }
--- config
location / { proxy_pass http://be; }
--- requests
GET /n
GET /n
GET /n
GET /n
GET /n
GET /n
GET /n
GET /n
--- bodies
up1 GET /n
up1 GET /n
up2 GET /n
up1 GET /n
up1 GET /n
up1 GET /n
up2 GET /n
up1 GET /n

=== TEST 19: a refused peer fails over to the next; $upstream_addr and $upstream_status list both
--- http_config
upstream be { server $DEAD; server $UP1; }
log_format up '$upstream_addr|$upstream_status';
--- config
access_log logs/access.log up;
location / { proxy_pass http://be; }
--- request
GET /x
--- error_code: 200
--- response_body
up1 GET /x
--- access_log
$DEAD, $UP1|502, 200

=== TEST 20: a backup server serves when the primary is down
--- http_config
upstream be { server $DEAD; server $UP2 backup; }
--- config
location / { proxy_pass http://be; }
--- request
GET /x
--- response_body
up2 GET /x

=== TEST 21: a server marked down is never used
--- http_config
upstream be { server $UP1 down; server $UP2; }
--- config
location / { proxy_pass http://be; }
--- requests
GET /a
GET /b
--- bodies
up2 GET /a
up2 GET /b

=== TEST 22: proxy_next_upstream http_500 retries the next peer; the last answer is sent
--- http_config
upstream be { server $UP1; server $UP2; }
log_format up '$upstream_addr|$upstream_status';
--- config
access_log logs/access.log up;
proxy_next_upstream error timeout http_500;
location / { proxy_pass http://be; }
--- request
GET /status/500
--- error_code: 500
--- response_body
up2 500
--- access_log
$UP1, $UP2|500, 500

=== TEST 23: by default a 500 from the upstream is passed through
--- http_config
upstream be { server $UP1; server $UP2; }
--- config
location / { proxy_pass http://be; }
--- request
GET /status/500
--- error_code: 500
--- response_body
up1 500

=== TEST 24: a POST that reached the upstream is not retried
--- http_config
upstream be { server $UP1; server $UP2; }
log_format up '$upstream_addr';
--- config
access_log logs/access.log up;
location / { proxy_pass http://be; }
--- request
POST /close
--- request_body
data
--- error_code: 502
--- access_log
$UP1
--- no_error_log
$UP2

=== TEST 25: proxy_next_upstream_tries limits the tries
--- http_config
upstream be { server $DEAD; server $UP1; }
log_format up '$upstream_addr|$upstream_status';
--- config
access_log logs/access.log up;
proxy_next_upstream_tries 1;
location / { proxy_pass http://be; }
--- request
GET /x
--- error_code: 502
--- access_log
$DEAD|502

=== TEST 26: proxy_intercept_errors on with an error_page for the status
--- config
proxy_intercept_errors on;
error_page 404 /404.html;
location / { proxy_pass http://$UP1; }
location = /404.html { internal; }
--- user_files
>>> 404.html
own not found
--- request
GET /status/404
--- error_code: 404
--- response_body
own not found

=== TEST 27: without proxy_intercept_errors the upstream's 404 passes
--- config
error_page 404 /404.html;
location / { proxy_pass http://$UP1; }
--- request
GET /status/404
--- error_code: 404
--- response_body
up1 404

=== TEST 28: error_page applies to the gateway's own 502
--- config
error_page 502 /502.html;
location / { proxy_pass http://$DEAD; }
location = /502.html { internal; }
--- user_files
>>> 502.html
upstream down
--- request
GET /x
--- error_code: 502
--- response_body
upstream down

=== TEST 29: proxy_redirect default maps the upstream URL onto the location
--- config
location /one/ { proxy_pass http://$UP1/; }
--- request
GET /one/redirect
--- error_code: 302
--- response_headers
Location: ~^http://localhost:\d+/one/target$
Refresh: 5; url=/one/other

=== TEST 30: proxy_redirect off leaves Location alone
--- config
location /one/ {
    proxy_redirect off;
    proxy_pass http://$UP1/;
}
--- request
GET /one/redirect
--- response_headers
Location: http://$UP1/target

=== TEST 31: proxy_redirect FROM TO
--- config
location / {
    proxy_redirect http://$UP1/ /x/;
    proxy_pass http://$UP1;
}
--- request
GET /redirect
--- response_headers
Location: ~^http://localhost:\d+/x/target$

=== TEST 32: upstream Date, Server, X-Pad, X-Accel-* and hop-by-hop headers are not passed
--- config
location / { proxy_pass http://$UP1; }
--- request
GET /headers
--- error_code: 200
--- response_headers
!X-Pad
!X-Accel-Buffering
!Keep-Alive
X-Custom: 1
Server: ~^openclaw
Date: ~^(?!Thu, 01 Jan 1970)

=== TEST 33: proxy_pass_header Server keeps the upstream's
--- config
location / {
    proxy_pass_header Server;
    proxy_pass http://$UP1;
}
--- request
GET /headers
--- response_headers
Server: backend/1.0

=== TEST 34: proxy_hide_header
--- config
location / {
    proxy_hide_header X-Custom;
    proxy_pass http://$UP1;
}
--- request
GET /headers
--- response_headers
!X-Custom

=== TEST 35: $upstream_http_* reads the upstream's header
--- config
location / {
    add_header X-Up $upstream_http_x_backend;
    proxy_pass http://$UP1;
}
--- request
GET /x
--- response_headers
X-Up: up1

=== TEST 36: proxy_pass with variables and an IP address
--- config
location / {
    set $target $UP1;
    proxy_pass http://$target;
}
--- request
GET /v?x=1
--- response_body
up1 GET /v?x=1

=== TEST 37: proxy_pass with a variable naming an upstream block
--- http_config
upstream backend { server $UP2; }
--- config
location / {
    set $b backend;
    proxy_pass http://$b;
}
--- request
GET /v
--- response_body
up2 GET /v

=== TEST 38: a variable host name without a resolver is 502
--- config
location / { proxy_pass http://$host:1234; }
--- request
GET /v
--- more_headers
Host: nowhere.invalid
--- error_code: 502
--- error_log
no resolver defined to resolve nowhere.invalid

=== TEST 39: a URI part in a regex location is a config error
--- config
location ~ ^/x { proxy_pass http://$UP1/y; }
--- config_error
"proxy_pass" cannot have URI part in location given by regular expression, or inside named location, or inside "if" statement, or inside "limit_except" block

=== TEST 40: an upstream block without servers is a config error
--- http_config
upstream u { keepalive 2; }
--- config
location / { proxy_pass http://u; }
--- config_error
no servers are inside upstream

=== TEST 41: an unknown scheme in proxy_pass is a config error
--- config
location / { proxy_pass ftp://$UP1; }
--- config_error
invalid URL prefix in

=== TEST 42: without keepalive every request opens a new upstream connection
--- http_config
upstream be { server $UP1; }
--- config
location / { proxy_pass http://be; }
--- requests
GET /conns
GET /conns
GET /conns
--- bodies
1
2
3

=== TEST 43: HEAD is proxied without a body
--- config
location / { proxy_pass http://$UP1; }
--- request
HEAD /x
--- error_code: 200
--- response_headers
Content-Length: 12

=== TEST 44: a chunked upstream body streams through
--- config
location / { proxy_pass http://$UP1; }
--- request
GET /stream?n=3&ms=10
--- response_body
chunk 0
chunk 1
chunk 2

=== TEST 45: an unknown upstream server parameter is a config error
--- http_config
upstream u { server $UP1 wieght=2; }
--- config
location / { proxy_pass http://u; }
--- config_error
invalid parameter "wieght=2"

=== TEST 46: hash $arg_k sends one key to one peer
--- http_config
upstream be { hash $arg_k; server $UP1; server $UP2; server $UP3; }
--- config
location / { proxy_pass http://be; }
--- requests
GET /h?k=alpha
GET /h?k=gamma
GET /h?k=alpha
GET /h?k=gamma
--- bodies
up2 GET /h?k=alpha
up1 GET /h?k=gamma
up2 GET /h?k=alpha
up1 GET /h?k=gamma

=== TEST 47: $upstream_response_time and $upstream_connect_time are seconds with milliseconds
--- http_config
log_format t 'rt=$upstream_response_time ct=$upstream_connect_time ht=$upstream_header_time';
--- config
access_log logs/access.log t;
location / { proxy_pass http://$UP1; }
--- request
GET /x
--- access_log_like
^rt=\d+\.\d{3} ct=\d+\.\d{3} ht=\d+\.\d{3}$

=== TEST 48: a proxied location /dir/ answers /dir with a 301 to /dir/ (nginx's auto redirect)
--- config
location /dir/ { proxy_pass http://$UP1; }
--- request
GET /dir?x=1
--- error_code: 301
--- response_headers
Location: ~^http://localhost:\d+/dir/\?x=1$

=== TEST 49: an exact location prevents the auto redirect
--- config
location /dir/ { proxy_pass http://$UP1; }
location = /dir { return 200 "exact"; }
--- request
GET /dir
--- error_code: 200
--- response_body chomp
exact

=== TEST 50: health_check parameters are validated
--- http_config
upstream be { server $UP1; health_check interval=0; }
--- config
location / { proxy_pass http://be; }
--- config_error
invalid parameter "interval=0"

=== TEST 51: two balancer_by_lua handlers in one upstream are refused
--- http_config
upstream be {
    server $UP1;
    balancer_by_lua_block { }
    balancer_by_lua_block { }
}
--- config
location / { proxy_pass http://be; }
--- config_error
is duplicate in

=== TEST 52: proxy_pass with variables and a bad port is a 500
--- config
location / { proxy_pass http://$arg_h; }
--- request
GET /x?h=127.0.0.1:abc
--- error_code: 500
--- error_log
invalid port in upstream "127.0.0.1:abc"

=== TEST 53: an upstream body without a length ends with the upstream's connection
--- http_config
upstream be { server $UP1; keepalive 4; }
--- config
location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; }
--- requests
GET /untilclose
GET /conns
--- bodies
until the end
2

=== TEST 54: an interim 100 Continue from the upstream is skipped
--- config
location / { proxy_pass http://$UP1; }
--- request
GET /continue
--- error_code: 200
--- response_body
up1 after 100

=== TEST 55: an upstream head with more header lines than usual (40) passes whole
--- config
location / { proxy_pass http://$UP1; }
--- request
GET /count?h=X-H0:0&h=X-H1:1&h=X-H2:2&h=X-H3:3&h=X-H4:4&h=X-H5:5&h=X-H6:6&h=X-H7:7&h=X-H8:8&h=X-H9:9&h=X-H10:10&h=X-H11:11&h=X-H12:12&h=X-H13:13&h=X-H14:14&h=X-H15:15&h=X-H16:16&h=X-H17:17&h=X-H18:18&h=X-H19:19&h=X-H20:20&h=X-H21:21&h=X-H22:22&h=X-H23:23&h=X-H24:24&h=X-H25:25&h=X-H26:26&h=X-H27:27&h=X-H28:28&h=X-H29:29&h=X-H30:30&h=X-H31:31&h=X-H32:32&h=X-H33:33&h=X-H34:34&h=X-H35:35&h=X-H36:36&h=X-H37:37&h=X-H38:38&h=X-H39:39
--- error_code: 200
--- response_headers
X-H0: 0
X-H39: 39

=== TEST 56: an upstream head of more than 256 header lines is 502, as nginx's too big header
--- config
location / { proxy_pass http://$UP1; }
--- request
GET /count?h=X-H0:0&h=X-H1:1&h=X-H2:2&h=X-H3:3&h=X-H4:4&h=X-H5:5&h=X-H6:6&h=X-H7:7&h=X-H8:8&h=X-H9:9&h=X-H10:10&h=X-H11:11&h=X-H12:12&h=X-H13:13&h=X-H14:14&h=X-H15:15&h=X-H16:16&h=X-H17:17&h=X-H18:18&h=X-H19:19&h=X-H20:20&h=X-H21:21&h=X-H22:22&h=X-H23:23&h=X-H24:24&h=X-H25:25&h=X-H26:26&h=X-H27:27&h=X-H28:28&h=X-H29:29&h=X-H30:30&h=X-H31:31&h=X-H32:32&h=X-H33:33&h=X-H34:34&h=X-H35:35&h=X-H36:36&h=X-H37:37&h=X-H38:38&h=X-H39:39&h=X-H40:40&h=X-H41:41&h=X-H42:42&h=X-H43:43&h=X-H44:44&h=X-H45:45&h=X-H46:46&h=X-H47:47&h=X-H48:48&h=X-H49:49&h=X-H50:50&h=X-H51:51&h=X-H52:52&h=X-H53:53&h=X-H54:54&h=X-H55:55&h=X-H56:56&h=X-H57:57&h=X-H58:58&h=X-H59:59&h=X-H60:60&h=X-H61:61&h=X-H62:62&h=X-H63:63&h=X-H64:64&h=X-H65:65&h=X-H66:66&h=X-H67:67&h=X-H68:68&h=X-H69:69&h=X-H70:70&h=X-H71:71&h=X-H72:72&h=X-H73:73&h=X-H74:74&h=X-H75:75&h=X-H76:76&h=X-H77:77&h=X-H78:78&h=X-H79:79&h=X-H80:80&h=X-H81:81&h=X-H82:82&h=X-H83:83&h=X-H84:84&h=X-H85:85&h=X-H86:86&h=X-H87:87&h=X-H88:88&h=X-H89:89&h=X-H90:90&h=X-H91:91&h=X-H92:92&h=X-H93:93&h=X-H94:94&h=X-H95:95&h=X-H96:96&h=X-H97:97&h=X-H98:98&h=X-H99:99&h=X-H100:100&h=X-H101:101&h=X-H102:102&h=X-H103:103&h=X-H104:104&h=X-H105:105&h=X-H106:106&h=X-H107:107&h=X-H108:108&h=X-H109:109&h=X-H110:110&h=X-H111:111&h=X-H112:112&h=X-H113:113&h=X-H114:114&h=X-H115:115&h=X-H116:116&h=X-H117:117&h=X-H118:118&h=X-H119:119&h=X-H120:120&h=X-H121:121&h=X-H122:122&h=X-H123:123&h=X-H124:124&h=X-H125:125&h=X-H126:126&h=X-H127:127&h=X-H128:128&h=X-H129:129&h=X-H130:130&h=X-H131:131&h=X-H132:132&h=X-H133:133&h=X-H134:134&h=X-H135:135&h=X-H136:136&h=X-H137:137&h=X-H138:138&h=X-H139:139&h=X-H140:140&h=X-H141:141&h=X-H142:142&h=X-H143:143&h=X-H144:144&h=X-H145:145&h=X-H146:146&h=X-H147:147&h=X-H148:148&h=X-H149:149&h=X-H150:150&h=X-H151:151&h=X-H152:152&h=X-H153:153&h=X-H154:154&h=X-H155:155&h=X-H156:156&h=X-H157:157&h=X-H158:158&h=X-H159:159&h=X-H160:160&h=X-H161:161&h=X-H162:162&h=X-H163:163&h=X-H164:164&h=X-H165:165&h=X-H166:166&h=X-H167:167&h=X-H168:168&h=X-H169:169&h=X-H170:170&h=X-H171:171&h=X-H172:172&h=X-H173:173&h=X-H174:174&h=X-H175:175&h=X-H176:176&h=X-H177:177&h=X-H178:178&h=X-H179:179&h=X-H180:180&h=X-H181:181&h=X-H182:182&h=X-H183:183&h=X-H184:184&h=X-H185:185&h=X-H186:186&h=X-H187:187&h=X-H188:188&h=X-H189:189&h=X-H190:190&h=X-H191:191&h=X-H192:192&h=X-H193:193&h=X-H194:194&h=X-H195:195&h=X-H196:196&h=X-H197:197&h=X-H198:198&h=X-H199:199&h=X-H200:200&h=X-H201:201&h=X-H202:202&h=X-H203:203&h=X-H204:204&h=X-H205:205&h=X-H206:206&h=X-H207:207&h=X-H208:208&h=X-H209:209&h=X-H210:210&h=X-H211:211&h=X-H212:212&h=X-H213:213&h=X-H214:214&h=X-H215:215&h=X-H216:216&h=X-H217:217&h=X-H218:218&h=X-H219:219&h=X-H220:220&h=X-H221:221&h=X-H222:222&h=X-H223:223&h=X-H224:224&h=X-H225:225&h=X-H226:226&h=X-H227:227&h=X-H228:228&h=X-H229:229&h=X-H230:230&h=X-H231:231&h=X-H232:232&h=X-H233:233&h=X-H234:234&h=X-H235:235&h=X-H236:236&h=X-H237:237&h=X-H238:238&h=X-H239:239&h=X-H240:240&h=X-H241:241&h=X-H242:242&h=X-H243:243&h=X-H244:244&h=X-H245:245&h=X-H246:246&h=X-H247:247&h=X-H248:248&h=X-H249:249&h=X-H250:250&h=X-H251:251&h=X-H252:252&h=X-H253:253&h=X-H254:254&h=X-H255:255&h=X-H256:256&h=X-H257:257&h=X-H258:258&h=X-H259:259&h=X-H260:260&h=X-H261:261&h=X-H262:262&h=X-H263:263&h=X-H264:264&h=X-H265:265&h=X-H266:266&h=X-H267:267&h=X-H268:268&h=X-H269:269&h=X-H270:270&h=X-H271:271&h=X-H272:272&h=X-H273:273&h=X-H274:274&h=X-H275:275&h=X-H276:276&h=X-H277:277&h=X-H278:278&h=X-H279:279&h=X-H280:280&h=X-H281:281&h=X-H282:282&h=X-H283:283&h=X-H284:284&h=X-H285:285&h=X-H286:286&h=X-H287:287&h=X-H288:288&h=X-H289:289&h=X-H290:290&h=X-H291:291&h=X-H292:292&h=X-H293:293&h=X-H294:294&h=X-H295:295&h=X-H296:296&h=X-H297:297&h=X-H298:298&h=X-H299:299
--- error_code: 502
--- error_log
upstream sent too big header while reading response header from upstream

=== TEST 57: bytes past the upstream's Content-Length are dropped with nginx's warning
--- config
location / { proxy_pass http://$UP1; }
--- request
GET /extra
--- error_code: 200
--- response_body chomp
abc
--- error_log
upstream sent more data than specified in "Content-Length" header while reading upstream

=== TEST 58: an upstream Content-Length nginx cannot read is ignored and not passed on
--- config
location / { proxy_pass http://$UP1; }
--- request
GET /badlength
--- error_code: 200
--- response_headers
!Content-Length
--- response_body chomp
hello

=== TEST 59: client headers go upstream in the order they came, a repeated name in its places
--- config
location / { proxy_pass http://$UP1; }
--- request
GET /echo
--- more_headers
X-A: 1
X-B: 2
X-A: 3
--- response_body
GET /echo HTTP/1.0
host: $UP1
connection: close
x-a: 1
x-b: 2
x-a: 3
--

=== TEST 60: ngx.req.set_header keeps a header's place; a new one goes last
--- config
location / {
    rewrite_by_lua_block {
        ngx.req.set_header("X-A", "new")
        ngx.req.set_header("X-C", "c")
    }
    proxy_pass http://$UP1;
}
--- request
GET /echo
--- more_headers
X-A: 1
X-B: 2
X-A: 3
--- response_body
GET /echo HTTP/1.0
host: $UP1
connection: close
x-a: new
x-b: 2
x-c: c
--
