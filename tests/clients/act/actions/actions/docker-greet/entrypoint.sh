#!/bin/sh
set -e
echo "docker-greet hello $1$PUNCT (input env INPUT_WHO=$INPUT_WHO)"
echo "docker-greet marker=$(cat /marker) workspace=$(cat "$GITHUB_WORKSPACE/data.txt")"
echo "greeting=hello $1$PUNCT" >> "$GITHUB_OUTPUT"
