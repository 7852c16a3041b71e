=== TEST 1: gzip on compresses a listed type for a client that accepts gzip
--- config
gzip on;
gzip_types text/plain;
location / { }
--- user_files
>>> t.txt
0123456789 0123456789 0123456789 0123456789 0123456789
--- request
GET /t.txt
--- more_headers
Accept-Encoding: gzip
--- error_code: 200
--- response_headers
Content-Encoding: gzip
!Vary
!Accept-Ranges

=== TEST 2: gzip_vary adds Vary: Accept-Encoding
--- config
gzip on;
gzip_vary on;
gzip_types text/plain;
location / { }
--- user_files
>>> t.txt
0123456789 0123456789 0123456789 0123456789 0123456789
--- request
GET /t.txt
--- more_headers
Accept-Encoding: gzip
--- response_headers
Content-Encoding: gzip
Vary: Accept-Encoding

=== TEST 3: below gzip_min_length nothing is compressed
--- config
gzip on;
gzip_min_length 1000;
gzip_types text/plain;
location / { }
--- user_files
>>> t.txt
0123456789 0123456789 0123456789 0123456789 0123456789
--- request
GET /t.txt
--- more_headers
Accept-Encoding: gzip
--- response_headers
!Content-Encoding
Content-Length: 55

=== TEST 4: text/html is always compressed
--- config
gzip on;
location = /h { default_type text/html; return 200 "0123456789 0123456789 0123456789 0123456789"; }
--- request
GET /h
--- more_headers
Accept-Encoding: gzip
--- response_headers
Content-Encoding: gzip

=== TEST 10: other types only when listed in gzip_types
--- config
gzip on;
location = /p { default_type text/plain; return 200 "0123456789 0123456789 0123456789 0123456789"; }
--- request
GET /p
--- more_headers
Accept-Encoding: gzip
--- response_headers
!Content-Encoding
Content-Length: 43

=== TEST 5: a HEAD request gets the headers of the compressed answer, as in nginx
--- config
gzip on;
gzip_types text/plain;
location / { }
--- user_files
>>> t.txt
0123456789 0123456789 0123456789 0123456789 0123456789
--- request
HEAD /t.txt
--- more_headers
Accept-Encoding: gzip
--- response_headers
Content-Encoding: gzip
!Content-Length

=== TEST 6: q=0 refuses gzip
--- config
gzip on;
gzip_types text/plain;
location / { }
--- user_files
>>> t.txt
0123456789 0123456789 0123456789 0123456789 0123456789
--- request
GET /t.txt
--- more_headers
Accept-Encoding: gzip;q=0
--- response_headers
!Content-Encoding

=== TEST 7: a 301 page is not compressed
--- config
gzip on;
location / { return 301 /elsewhere; }
--- request
GET /x
--- more_headers
Accept-Encoding: gzip
--- error_code: 301
--- response_headers
!Content-Encoding

=== TEST 8: the ETag of a compressed file becomes weak
--- config
gzip on;
gzip_types text/plain;
location / { }
--- user_files
>>> t.txt
0123456789 0123456789 0123456789 0123456789 0123456789
--- request
GET /t.txt
--- more_headers
Accept-Encoding: gzip
--- response_headers
ETag: ~^W/"

=== TEST 9: gzip_comp_level out of range is a config error
--- config
gzip_comp_level 10;
--- config_error
value must be between 1 and 9
