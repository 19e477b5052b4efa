package jwtauth

import _ "github.com/nats-io/jwt/v2"
