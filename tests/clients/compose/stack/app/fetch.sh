#!/bin/sh
# fetch HOST: the body of http://HOST:8080/index.html (busybox nc; Debian's static busybox
# wget crashes).
printf 'GET /index.html HTTP/1.0\r\n\r\n' | nc "$1" 8080 | tr -d '\r' | sed '1,/^$/d'
