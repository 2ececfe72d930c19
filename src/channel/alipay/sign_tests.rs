//! Every case of shared/vectors/alipay_rsa2.json as a unit test, plus the
//! key-format tests. The vectors' strings are pasted below as constants
//! (generated from the JSON) so nothing is read from disk at test time.
//! The signatures were produced by the vector authors with python
//! cryptography, pycryptodome and openssl; PKCS#1 v1.5 is deterministic, so
//! ring must reproduce them byte for byte.
//!
//! fzlee/alipay key pairs are PUBLIC TEST-ONLY keys; never use them for real.

use std::collections::BTreeMap;

use super::form;
use super::sign::*;

// ---- keys (vector "keys") ----

const GOPAY_ALIPAY_PUBLIC_KEY_PUBLIC_KEY_BASE64: &str = r##"MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAp8gueNlkbiDidz6FBQEBpqoRgH8h7JtsPtYW0nzAqy1MME4mFnDSMfSKlreUomS3a55gmBopL1eF4/Km/dEnaL5tCY9+24SKn1D4iyls+lvz/ZjvUjVwxoUYBh8kkcxMZSDeDz8//o+9qZTrICVP2a4sBB8T0XmU4gxfw8FsmtoomBH1nLk3AO7wgRN2a3+SRSAmxrhIGDmF1lljSlhY32eJpJ2TZQKaWNW+7yDBU/0Wt3kQVY84vr14yYagnSCiIfqyVFqePayRtmVJDr5qvSXr51tdqs2zKZCu+26X7JAF4BSsaq4gmY5DmDTm4TohCnBduI1+bPGD+igVmtl05wIDAQAB"##;
const GOPAY_ALIPAY_PUBLIC_KEY_PUBLIC_KEY_PEM: &str = r##"-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAp8gueNlkbiDidz6FBQEB
pqoRgH8h7JtsPtYW0nzAqy1MME4mFnDSMfSKlreUomS3a55gmBopL1eF4/Km/dEn
aL5tCY9+24SKn1D4iyls+lvz/ZjvUjVwxoUYBh8kkcxMZSDeDz8//o+9qZTrICVP
2a4sBB8T0XmU4gxfw8FsmtoomBH1nLk3AO7wgRN2a3+SRSAmxrhIGDmF1lljSlhY
32eJpJ2TZQKaWNW+7yDBU/0Wt3kQVY84vr14yYagnSCiIfqyVFqePayRtmVJDr5q
vSXr51tdqs2zKZCu+26X7JAF4BSsaq4gmY5DmDTm4TohCnBduI1+bPGD+igVmtl0
5wIDAQAB
-----END PUBLIC KEY-----
"##;
const FZLEE_APP_PRIVATE_KEY_PEM_PKCS1: &str = r##"-----BEGIN RSA PRIVATE KEY-----
MIIEowIBAAKCAQEAnLNAjrJnSadUSFm4Iw04zrW4yU2Px2e39yK9nY0fqpE5oQbH
34hHgdZeQHQGR7JR4dFe/juSbX0mMkdpOVrYo4vWEYgjMR7DFGg288d9af/tgBOM
oBUkT6WKND49nn69DEl6DNxRKg7NWXIPU67k+W4Au/oo0Aju6tpwSjT8ftJWb5Qm
z9btXpONZP0S1/fiukKGGYirBUIU9hlbKapNM9qQ9UVqFkcpQNFQPMBH1UukCr6J
wCa1uMySvkHtW9e/L9VI9zlgz1T9jLs/yS25D1SZME6ptSvzxccJ8gmn/W1JUIM7
oBv/DTpdbKvoMDoTq+oyajoObybAzu1V/yCANwIDAQABAoIBAD67sIOwPpOJDr/s
U0CNIYn3zGOizoXZKxgga2LwxZWmkDi8GzaNO3tqU89f48e+RvOtu2byeHum16zX
U/PnP8WxzOC17MjUdOrtkdpkqfvOvslAilLoQ+Iy9rJVnJugR5TssZUGeuPoiyNc
+2/YG8kT1e1rh/1JJkUVcFD1B4TJlfysJGPJevB82linuK+GXDGrPkzMSVYgfnQ9
sbjkAjDR3nlIDjIVbBDaLRHxmueUZLagHbrlhGDFq0xCqwq6c8Rf1/fc6pSm6sUo
daGyDz7ZhJ5vPZivzs7u+WLSdS/HAglkAEQunBXy8u6p4GqfRx0kQBwqNSJ3yuFs
7d0ud7kCgYEAyKsKQGLfr4NusQipHuWDmV9nPGHhxqM8PU1+QW9HNhVtD0V+/v2n
K9NJ4/4FLYfBgTqXuaneRDtLQh0nVuYUDt0wckH5cdl75F/j7AnSyZDL4MgLt6AH
4YT6eWXynkluDLfXOxsCmpIAf3rPoPrMsi/hOxvg0QwL+DYfY95uRDMCgYEAx+iP
oIGTBKjY+wXKYfUPGOP67k+43RSZ2ooh9I6g68TsnGaAxEaYTMBWCtZt7zaWdNx/
A7taZNeS0ZdRVR8xj1XbmkPSwXJ42Vy8rqdnfl66VMld3ZBZ3iRyXafUzkyFFoUU
O1+m95DeAQQWu5t9no+BwgSSOo+KKKUPt2NiL+0CgYEAoGnKqingMwhYZoFL4P0M
tIDFoEmHGSnIsCDQuzJftOZv5nNh0Cmph6lCOlYIgZsyn0HdpHgczGKyCMoRdrA6
fJ9paQ1AgTigh7H4G+rGbIep06lXZJUzd568NGvBBbQhm10jW4Z+EF6Cs2XTsRaM
qC0KWhwxHiwJLYTmlwlrEG0CgYBwElP68sl+Mj66s+ta8WzOUnlKAw2re7IpT4lr
tk5G/zZ7FAgagU0+shFKsB4fnqXIzBi0+eLaZ/SaZc+l/f/l0Id1u5I6+zb+/LuW
2qjtsqOZhu6FmTiYjixDjySBp2pxTpgiFSTg46liPm2ULb7GFsPzBmcIR5J36Nmf
wSq5nQKBgEptya/fPWjbdYBKSI3jQ+rx2pNOsOFzY4VBv/TZZ4ns0xUz/HfF6PYh
h37iFt3IeOdurtBWVVndJla5elcfz+ZbkKTJRKVtGilL09OGnQAbiCzYMremREl3
51iIgrzGubMqMExS1IlpxyNPRSpamHo06IG3VbbU+vsEFLCpq9+e
-----END RSA PRIVATE KEY-----
"##;
const FZLEE_APP_PRIVATE_KEY_PEM_PKCS8: &str = r##"-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCcs0COsmdJp1RI
WbgjDTjOtbjJTY/HZ7f3Ir2djR+qkTmhBsffiEeB1l5AdAZHslHh0V7+O5JtfSYy
R2k5Wtiji9YRiCMxHsMUaDbzx31p/+2AE4ygFSRPpYo0Pj2efr0MSXoM3FEqDs1Z
cg9TruT5bgC7+ijQCO7q2nBKNPx+0lZvlCbP1u1ek41k/RLX9+K6QoYZiKsFQhT2
GVspqk0z2pD1RWoWRylA0VA8wEfVS6QKvonAJrW4zJK+Qe1b178v1Uj3OWDPVP2M
uz/JLbkPVJkwTqm1K/PFxwnyCaf9bUlQgzugG/8NOl1sq+gwOhOr6jJqOg5vJsDO
7VX/IIA3AgMBAAECggEAPruwg7A+k4kOv+xTQI0hiffMY6LOhdkrGCBrYvDFlaaQ
OLwbNo07e2pTz1/jx75G8627ZvJ4e6bXrNdT8+c/xbHM4LXsyNR06u2R2mSp+86+
yUCKUuhD4jL2slWcm6BHlOyxlQZ64+iLI1z7b9gbyRPV7WuH/UkmRRVwUPUHhMmV
/KwkY8l68HzaWKe4r4ZcMas+TMxJViB+dD2xuOQCMNHeeUgOMhVsENotEfGa55Rk
tqAduuWEYMWrTEKrCrpzxF/X99zqlKbqxSh1obIPPtmEnm89mK/Ozu75YtJ1L8cC
CWQARC6cFfLy7qngap9HHSRAHCo1InfK4Wzt3S53uQKBgQDIqwpAYt+vg26xCKke
5YOZX2c8YeHGozw9TX5Bb0c2FW0PRX7+/acr00nj/gUth8GBOpe5qd5EO0tCHSdW
5hQO3TByQflx2XvkX+PsCdLJkMvgyAu3oAfhhPp5ZfKeSW4Mt9c7GwKakgB/es+g
+syyL+E7G+DRDAv4Nh9j3m5EMwKBgQDH6I+ggZMEqNj7Bcph9Q8Y4/ruT7jdFJna
iiH0jqDrxOycZoDERphMwFYK1m3vNpZ03H8Du1pk15LRl1FVHzGPVduaQ9LBcnjZ
XLyup2d+XrpUyV3dkFneJHJdp9TOTIUWhRQ7X6b3kN4BBBa7m32ej4HCBJI6j4oo
pQ+3Y2Iv7QKBgQCgacqqKeAzCFhmgUvg/Qy0gMWgSYcZKciwINC7Ml+05m/mc2HQ
KamHqUI6VgiBmzKfQd2keBzMYrIIyhF2sDp8n2lpDUCBOKCHsfgb6sZsh6nTqVdk
lTN3nrw0a8EFtCGbXSNbhn4QXoKzZdOxFoyoLQpaHDEeLAkthOaXCWsQbQKBgHAS
U/ryyX4yPrqz61rxbM5SeUoDDat7silPiWu2Tkb/NnsUCBqBTT6yEUqwHh+epcjM
GLT54tpn9Jplz6X9/+XQh3W7kjr7Nv78u5baqO2yo5mG7oWZOJiOLEOPJIGnanFO
mCIVJODjqWI+bZQtvsYWw/MGZwhHknfo2Z/BKrmdAoGASm3Jr989aNt1gEpIjeND
6vHak06w4XNjhUG/9NlniezTFTP8d8Xo9iGHfuIW3ch4526u0FZVWd0mVrl6Vx/P
5luQpMlEpW0aKUvT04adABuILNgyt6ZESXfnWIiCvMa5syowTFLUiWnHI09FKlqY
ejTogbdVttT6+wQUsKmr354=
-----END PRIVATE KEY-----
"##;
const FZLEE_APP_PUBLIC_KEY_PEM: &str = r##"-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAnLNAjrJnSadUSFm4Iw04
zrW4yU2Px2e39yK9nY0fqpE5oQbH34hHgdZeQHQGR7JR4dFe/juSbX0mMkdpOVrY
o4vWEYgjMR7DFGg288d9af/tgBOMoBUkT6WKND49nn69DEl6DNxRKg7NWXIPU67k
+W4Au/oo0Aju6tpwSjT8ftJWb5Qmz9btXpONZP0S1/fiukKGGYirBUIU9hlbKapN
M9qQ9UVqFkcpQNFQPMBH1UukCr6JwCa1uMySvkHtW9e/L9VI9zlgz1T9jLs/yS25
D1SZME6ptSvzxccJ8gmn/W1JUIM7oBv/DTpdbKvoMDoTq+oyajoObybAzu1V/yCA
NwIDAQAB
-----END PUBLIC KEY-----
"##;
const FZLEE_ALI_PRIVATE_KEY_PEM_PKCS1: &str = r##"-----BEGIN RSA PRIVATE KEY-----
MIIEogIBAAKCAQEAptkXVjUkA21vOW+h7FrW68sooGwRqZCT3c8zcP7WLwwvKzwp
iU5l+oX7yMoEes9qa7TCZd6YySxoYAdi1u9R6Bi5YOeWCKGfh5ijbaWU9vH5k/qg
WzCkWMSu0ZDyV0rMnQHigrnlEWGNOdMxglTJEeuiIGLi7i/3loFUjwCfXq8bkEcy
lTMMGiXGh88qevG0SbVA8RBNO37tHsRtSD/MU1hIcjTDMH5+yiLGKVx1OjdOlX0n
rjTivM0i9uQn0NZaBBVT7SVT/CykmpSLxX5PtTJ+I56uRUpeQyRd+vaeTdqrmTFm
pG3Nd0nUJV0wWespzOBgg+fYG9Sd7yoEb8g2JwIDAQABAoIBAAHQsNFOSLME2MXu
MfvJTTdJgYqlQlfu67zpCS08iIYAgu7ce7MzuCZOmNupXv0bDpRXZhoHnu/pXMVW
rzuZZPG6eyHTwy0a3QpznauOtp0tKsLyYhY75D3W/fPnuMs8VBeNMrKrZROYVRoA
8zPwyjM4tg3WJZPjz7TCeXII1rMH/ivumSwMuM5ZI1G+lnga6wnicC7XcpoRqBGb
5IHti9g65E1/Al1NwfIfvubppoM1IkrFSW1vIBBwJ/xIBBMR3eCCpNzMzYLf01Kf
qcLqtNHPCKu3h/DS8+8Ldmbo2Gmk/rF4EM2ON2ctqnh35VnfYNbkdLtVRKN/I3Y3
5fwWv7kCgYEA1ZAs5MYoWyg2CVDoYTMeDPK4eauUp9j/PkW8CKhe2zqL/aYWRnON
w/ssYVzIezGu2Y28U0lancNJlPLvPDQTAU3njkK9qOCFoP6RfaO1iIqbra4pUdCL
ozJsreIsFxyDUn7UuaO1RQCfLvijC2qHTMrVRmDRDS+wGLdlO10yGhMCgYEAyACL
Xbuw+z4TC4dcegqmXLqhjnEPafTlmkltmi/WQIbCxAQEr5w5Kt+W4MrxiPwX5XIu
oG61G9dTSluQQniFQCk+31uI8qyWEXNx3LwBmhnEPbLIbHxSvqgXwHq40bLPgd4g
+fmIb4wvQmOHlWZU4wO7h1zlQSIUYNN3KJVf9h0CgYAVTUk9FIrn9M3XBgv3zgp8
TiWadUPhriJfisMjte+oPGHETjHAmzwTxVT67S9OInmHV7zmLdXtEJKhWc4FGkif
A69KIFwcoTCTC3Flr9Omp/S5UTrr3zpeb+QpP/sX3w82RlJfpfWpyVMXc1OICvst
7LlzSKrxfsU44eomDri1owKBgBbikQ/hqSeme7FnBLrmOxEDPfc5kqTyI8+atVLe
RGrPwLuDJjId8yCnwvDn5+lfxzA294TeBhUwd1Rb0873UW/9CDewlqQGAYnvpsi2
Loy+hAj3Sx22wBUW0NjycfF0v2/Bxg40clspNEMpdlsvAWmUhMHBbG4egyxtJgZb
yUY1AoGAEGobZAoEpc6Px2tDJx7p0ePrs6857Ge2+2yeiYY4xPTrF8xsD732V7rY
jJW2V7ETn9LKXPAlFdZUv0OQ0JYD3sHnyz7puVV5xEqPB+rXVCAypVCdWZoQKJ+a
N4mQ0bHgc2JgO5EMu1GYa2uIEobWpaiMR+1qIIaq/ok/FCajtHA=
-----END RSA PRIVATE KEY-----
"##;
const FZLEE_ALI_PRIVATE_KEY_PEM_PKCS8: &str = r##"-----BEGIN PRIVATE KEY-----
MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQCm2RdWNSQDbW85
b6HsWtbryyigbBGpkJPdzzNw/tYvDC8rPCmJTmX6hfvIygR6z2prtMJl3pjJLGhg
B2LW71HoGLlg55YIoZ+HmKNtpZT28fmT+qBbMKRYxK7RkPJXSsydAeKCueURYY05
0zGCVMkR66IgYuLuL/eWgVSPAJ9erxuQRzKVMwwaJcaHzyp68bRJtUDxEE07fu0e
xG1IP8xTWEhyNMMwfn7KIsYpXHU6N06VfSeuNOK8zSL25CfQ1loEFVPtJVP8LKSa
lIvFfk+1Mn4jnq5FSl5DJF369p5N2quZMWakbc13SdQlXTBZ6ynM4GCD59gb1J3v
KgRvyDYnAgMBAAECggEAAdCw0U5IswTYxe4x+8lNN0mBiqVCV+7rvOkJLTyIhgCC
7tx7szO4Jk6Y26le/RsOlFdmGgee7+lcxVavO5lk8bp7IdPDLRrdCnOdq462nS0q
wvJiFjvkPdb98+e4yzxUF40ysqtlE5hVGgDzM/DKMzi2DdYlk+PPtMJ5cgjWswf+
K+6ZLAy4zlkjUb6WeBrrCeJwLtdymhGoEZvkge2L2DrkTX8CXU3B8h++5ummgzUi
SsVJbW8gEHAn/EgEExHd4IKk3MzNgt/TUp+pwuq00c8Iq7eH8NLz7wt2ZujYaaT+
sXgQzY43Zy2qeHflWd9g1uR0u1VEo38jdjfl/Ba/uQKBgQDVkCzkxihbKDYJUOhh
Mx4M8rh5q5Sn2P8+RbwIqF7bOov9phZGc43D+yxhXMh7Ma7ZjbxTSVqdw0mU8u88
NBMBTeeOQr2o4IWg/pF9o7WIiputrilR0IujMmyt4iwXHINSftS5o7VFAJ8u+KML
aodMytVGYNENL7AYt2U7XTIaEwKBgQDIAItdu7D7PhMLh1x6CqZcuqGOcQ9p9OWa
SW2aL9ZAhsLEBASvnDkq35bgyvGI/Bflci6gbrUb11NKW5BCeIVAKT7fW4jyrJYR
c3HcvAGaGcQ9sshsfFK+qBfAerjRss+B3iD5+YhvjC9CY4eVZlTjA7uHXOVBIhRg
03colV/2HQKBgBVNST0Uiuf0zdcGC/fOCnxOJZp1Q+GuIl+KwyO176g8YcROMcCb
PBPFVPrtL04ieYdXvOYt1e0QkqFZzgUaSJ8Dr0ogXByhMJMLcWWv06an9LlROuvf
Ol5v5Ck/+xffDzZGUl+l9anJUxdzU4gK+y3suXNIqvF+xTjh6iYOuLWjAoGAFuKR
D+GpJ6Z7sWcEuuY7EQM99zmSpPIjz5q1Ut5Eas/Au4MmMh3zIKfC8Ofn6V/HMDb3
hN4GFTB3VFvTzvdRb/0IN7CWpAYBie+myLYujL6ECPdLHbbAFRbQ2PJx8XS/b8HG
DjRyWyk0Qyl2Wy8BaZSEwcFsbh6DLG0mBlvJRjUCgYAQahtkCgSlzo/Ha0MnHunR
4+uzrznsZ7b7bJ6JhjjE9OsXzGwPvfZXutiMlbZXsROf0spc8CUV1lS/Q5DQlgPe
wefLPum5VXnESo8H6tdUIDKlUJ1ZmhAon5o3iZDRseBzYmA7kQy7UZhra4gShtal
qIxH7Woghqr+iT8UJqO0cA==
-----END PRIVATE KEY-----
"##;
const FZLEE_ALI_PUBLIC_KEY_PEM: &str = r##"-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAptkXVjUkA21vOW+h7FrW
68sooGwRqZCT3c8zcP7WLwwvKzwpiU5l+oX7yMoEes9qa7TCZd6YySxoYAdi1u9R
6Bi5YOeWCKGfh5ijbaWU9vH5k/qgWzCkWMSu0ZDyV0rMnQHigrnlEWGNOdMxglTJ
EeuiIGLi7i/3loFUjwCfXq8bkEcylTMMGiXGh88qevG0SbVA8RBNO37tHsRtSD/M
U1hIcjTDMH5+yiLGKVx1OjdOlX0nrjTivM0i9uQn0NZaBBVT7SVT/CykmpSLxX5P
tTJ+I56uRUpeQyRd+vaeTdqrmTFmpG3Nd0nUJV0wWespzOBgg+fYG9Sd7yoEb8g2
JwIDAQAB
-----END PUBLIC KEY-----
"##;

// ---- authored for these tests ----

/// `openssl pkcs8 -topk8 -nocrypt -in app_private_key.pem` (PKCS#1 above);
/// byte-identical to the vector's own PKCS#8 copy.
const APP_PRIVATE_PKCS8_OPENSSL: &str = r##"-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCcs0COsmdJp1RI
WbgjDTjOtbjJTY/HZ7f3Ir2djR+qkTmhBsffiEeB1l5AdAZHslHh0V7+O5JtfSYy
R2k5Wtiji9YRiCMxHsMUaDbzx31p/+2AE4ygFSRPpYo0Pj2efr0MSXoM3FEqDs1Z
cg9TruT5bgC7+ijQCO7q2nBKNPx+0lZvlCbP1u1ek41k/RLX9+K6QoYZiKsFQhT2
GVspqk0z2pD1RWoWRylA0VA8wEfVS6QKvonAJrW4zJK+Qe1b178v1Uj3OWDPVP2M
uz/JLbkPVJkwTqm1K/PFxwnyCaf9bUlQgzugG/8NOl1sq+gwOhOr6jJqOg5vJsDO
7VX/IIA3AgMBAAECggEAPruwg7A+k4kOv+xTQI0hiffMY6LOhdkrGCBrYvDFlaaQ
OLwbNo07e2pTz1/jx75G8627ZvJ4e6bXrNdT8+c/xbHM4LXsyNR06u2R2mSp+86+
yUCKUuhD4jL2slWcm6BHlOyxlQZ64+iLI1z7b9gbyRPV7WuH/UkmRRVwUPUHhMmV
/KwkY8l68HzaWKe4r4ZcMas+TMxJViB+dD2xuOQCMNHeeUgOMhVsENotEfGa55Rk
tqAduuWEYMWrTEKrCrpzxF/X99zqlKbqxSh1obIPPtmEnm89mK/Ozu75YtJ1L8cC
CWQARC6cFfLy7qngap9HHSRAHCo1InfK4Wzt3S53uQKBgQDIqwpAYt+vg26xCKke
5YOZX2c8YeHGozw9TX5Bb0c2FW0PRX7+/acr00nj/gUth8GBOpe5qd5EO0tCHSdW
5hQO3TByQflx2XvkX+PsCdLJkMvgyAu3oAfhhPp5ZfKeSW4Mt9c7GwKakgB/es+g
+syyL+E7G+DRDAv4Nh9j3m5EMwKBgQDH6I+ggZMEqNj7Bcph9Q8Y4/ruT7jdFJna
iiH0jqDrxOycZoDERphMwFYK1m3vNpZ03H8Du1pk15LRl1FVHzGPVduaQ9LBcnjZ
XLyup2d+XrpUyV3dkFneJHJdp9TOTIUWhRQ7X6b3kN4BBBa7m32ej4HCBJI6j4oo
pQ+3Y2Iv7QKBgQCgacqqKeAzCFhmgUvg/Qy0gMWgSYcZKciwINC7Ml+05m/mc2HQ
KamHqUI6VgiBmzKfQd2keBzMYrIIyhF2sDp8n2lpDUCBOKCHsfgb6sZsh6nTqVdk
lTN3nrw0a8EFtCGbXSNbhn4QXoKzZdOxFoyoLQpaHDEeLAkthOaXCWsQbQKBgHAS
U/ryyX4yPrqz61rxbM5SeUoDDat7silPiWu2Tkb/NnsUCBqBTT6yEUqwHh+epcjM
GLT54tpn9Jplz6X9/+XQh3W7kjr7Nv78u5baqO2yo5mG7oWZOJiOLEOPJIGnanFO
mCIVJODjqWI+bZQtvsYWw/MGZwhHknfo2Z/BKrmdAoGASm3Jr989aNt1gEpIjeND
6vHak06w4XNjhUG/9NlniezTFTP8d8Xo9iGHfuIW3ch4526u0FZVWd0mVrl6Vx/P
5luQpMlEpW0aKUvT04adABuILNgyt6ZESXfnWIiCvMa5syowTFLUiWnHI09FKlqY
ejTogbdVttT6+wQUsKmr354=
-----END PRIVATE KEY-----
"##;

/// `openssl rsa -in app_private_key.pem -RSAPublicKey_out` (PKCS#1 public).
const APP_PUBLIC_PKCS1_PEM: &str = r##"-----BEGIN RSA PUBLIC KEY-----
MIIBCgKCAQEAnLNAjrJnSadUSFm4Iw04zrW4yU2Px2e39yK9nY0fqpE5oQbH34hH
gdZeQHQGR7JR4dFe/juSbX0mMkdpOVrYo4vWEYgjMR7DFGg288d9af/tgBOMoBUk
T6WKND49nn69DEl6DNxRKg7NWXIPU67k+W4Au/oo0Aju6tpwSjT8ftJWb5Qmz9bt
XpONZP0S1/fiukKGGYirBUIU9hlbKapNM9qQ9UVqFkcpQNFQPMBH1UukCr6JwCa1
uMySvkHtW9e/L9VI9zlgz1T9jLs/yS25D1SZME6ptSvzxccJ8gmn/W1JUIM7oBv/
DTpdbKvoMDoTq+oyajoObybAzu1V/yCANwIDAQAB
-----END RSA PUBLIC KEY-----
"##;

/// A throwaway 1024-bit key (`openssl genpkey … rsa_keygen_bits:1024 | openssl
/// pkey -pubout`): too small for RSA2.
const SMALL_1024_PUBLIC_PEM: &str = r##"-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDwS9xVRS4uGiwezupePvZ8H0+e
9TucynBVTfNw9cJFJs/BZCi5LRcdeERqmfDs2BVenUAb4Jw63wh4plrlRTue/fg0
+J0O1XBSVOb3lbvd6TWzC3Vkb4TPgRFR2O9gYxFpFK/jWH+WuFaYOXky49d6KSMB
MLo1WqciUP6yT7LFBQIDAQAB
-----END PUBLIC KEY-----
"##;

// ---- cases (vector "cases") ----

// raw_hello (raw_sign, expected valid)
const RAW_HELLO_MESSAGE: &str = "hello\n";
const RAW_HELLO_SIGN: &str = r##"N1IQLlHVZSmai3D0kF2r3IZTwrpUQdh0pbUAjE8bbiKBjRUvXX2T127yJW2pre4kPlS2HWgdbV6yDqk2ykIDHldFnJBkhs/UPwt4D1Lt2rKgGETH1Tn98vgvbmYtAXNZDCAK6CcA+FTVFrpsHmBC4AkUppOb97gzmDeTRh9vTOXzNoMBv7bYktdCRPBODQEXhcTfYNS57JgB25+uuHeAQdju3TdMeupHj2K0ktpBCLNwc9FOXAjOBil0Bo3aEV4+RLllGcsig5oe3vrKL5OfenSzA9YbgiGhHC8lWtYYeeBlOY0zijRTb+uCnnwMQTKbLHY/1HoY/D9b7n1uBAL1Bw=="##;

// real_sync_response_trade_query (sync_response_verify, expected valid)
const REAL_SYNC_RESPONSE_TRADE_QUERY_RESPONSE_KEY: &str = r##"alipay_trade_query_response"##;
const REAL_SYNC_RESPONSE_TRADE_QUERY_SIGNED_TEXT: &str = r##"{"code":"10000","msg":"Success","buyer_logon_id":"854***@qq.com","buyer_pay_amount":"0.01","buyer_user_id":"2088102363632794","fund_bill_list":[{"amount":"0.01","fund_channel":"PCREDIT"}],"gmt_payment":"2019-08-29 20:14:05","invoice_amount":"0.01","out_trade_no":"GZ201901301040361012","point_amount":"0.00","receipt_amount":"0.01","total_amount":"0.01","trade_no":"2019082922001432790585537960"}"##;
const REAL_SYNC_RESPONSE_TRADE_QUERY_SIGN: &str = r##"bk3SzX0CZRI811IJioS2XKQHcgMixUT8mYyGQj+vcOAQas7GIYi6LpykqqSc3m7+yvqoG0TdX/c2JjYnpw/J53JxtC2IC4vsLuIPIgghVo5qafsfSxEJ22w20RZDatI2dYqFVcj8Jp+4aesQ8zMMNw7cX9NLyk7kw3DecYeyQp+zrZMueZPqLh88Z+54G+e6QuSU++0ouqQVd4PkpPqy6YI+8MdMUX4Ve0jOQxMmYH8BC6n5ZsTH/uEaLEtzYVZdSw/xdSQ7K1SH73aEH8XbRYx6rL7RkKksrdvhezX+ThDjQ+fTWjvNFrGcg3fmqXRy2elvoalu+BQmqlkWWjEJYA=="##;
const REAL_SYNC_RESPONSE_TRADE_QUERY_RESPONSE_BODY_ASSEMBLED: &str = r##"{"alipay_trade_query_response":{"code":"10000","msg":"Success","buyer_logon_id":"854***@qq.com","buyer_pay_amount":"0.01","buyer_user_id":"2088102363632794","fund_bill_list":[{"amount":"0.01","fund_channel":"PCREDIT"}],"gmt_payment":"2019-08-29 20:14:05","invoice_amount":"0.01","out_trade_no":"GZ201901301040361012","point_amount":"0.00","receipt_amount":"0.01","total_amount":"0.01","trade_no":"2019082922001432790585537960"},"sign":"bk3SzX0CZRI811IJioS2XKQHcgMixUT8mYyGQj+vcOAQas7GIYi6LpykqqSc3m7+yvqoG0TdX/c2JjYnpw/J53JxtC2IC4vsLuIPIgghVo5qafsfSxEJ22w20RZDatI2dYqFVcj8Jp+4aesQ8zMMNw7cX9NLyk7kw3DecYeyQp+zrZMueZPqLh88Z+54G+e6QuSU++0ouqQVd4PkpPqy6YI+8MdMUX4Ve0jOQxMmYH8BC6n5ZsTH/uEaLEtzYVZdSw/xdSQ7K1SH73aEH8XbRYx6rL7RkKksrdvhezX+ThDjQ+fTWjvNFrGcg3fmqXRy2elvoalu+BQmqlkWWjEJYA=="}"##;

// real_sync_response_trade_query_tampered (sync_response_verify, expected invalid)
const REAL_SYNC_RESPONSE_TRADE_QUERY_TAMPERED_RESPONSE_KEY: &str =
    r##"alipay_trade_query_response"##;
const REAL_SYNC_RESPONSE_TRADE_QUERY_TAMPERED_SIGNED_TEXT: &str = r##"{"code":"10000","msg":"Success","buyer_logon_id":"854***@qq.com","buyer_pay_amount":"0.01","buyer_user_id":"2088102363632794","fund_bill_list":[{"amount":"0.01","fund_channel":"PCREDIT"}],"gmt_payment":"2019-08-29 20:14:05","invoice_amount":"0.01","out_trade_no":"GZ201901301040361012","point_amount":"0.00","receipt_amount":"0.01","total_amount":"0.02","trade_no":"2019082922001432790585537960"}"##;
const REAL_SYNC_RESPONSE_TRADE_QUERY_TAMPERED_SIGN: &str = r##"bk3SzX0CZRI811IJioS2XKQHcgMixUT8mYyGQj+vcOAQas7GIYi6LpykqqSc3m7+yvqoG0TdX/c2JjYnpw/J53JxtC2IC4vsLuIPIgghVo5qafsfSxEJ22w20RZDatI2dYqFVcj8Jp+4aesQ8zMMNw7cX9NLyk7kw3DecYeyQp+zrZMueZPqLh88Z+54G+e6QuSU++0ouqQVd4PkpPqy6YI+8MdMUX4Ve0jOQxMmYH8BC6n5ZsTH/uEaLEtzYVZdSw/xdSQ7K1SH73aEH8XbRYx6rL7RkKksrdvhezX+ThDjQ+fTWjvNFrGcg3fmqXRy2elvoalu+BQmqlkWWjEJYA=="##;

// request_trade_precreate (request_sign, expected valid)
const REQUEST_TRADE_PRECREATE_PARAMS: &[(&str, &str)] = &[
    (r##"app_id"##, r##"2021000000000001"##),
    (r##"method"##, r##"alipay.trade.precreate"##),
    (r##"charset"##, r##"utf-8"##),
    (r##"sign_type"##, r##"RSA2"##),
    (r##"timestamp"##, r##"2026-11-22 14:13:19"##),
    (r##"version"##, r##"1.0"##),
    (
        r##"notify_url"##,
        r##"https://pay.example.com/notify/alipay"##,
    ),
    (r##"app_auth_token"##, r##""##),
    (
        r##"biz_content"##,
        r##"{"out_trade_no":"PC20261122061319AB12CD34EF56","total_amount":"0.01","subject":"测试商品-会员月卡"}"##,
    ),
];
const REQUEST_TRADE_PRECREATE_STRING_TO_SIGN: &str = r##"app_id=2021000000000001&biz_content={"out_trade_no":"PC20261122061319AB12CD34EF56","total_amount":"0.01","subject":"测试商品-会员月卡"}&charset=utf-8&method=alipay.trade.precreate&notify_url=https://pay.example.com/notify/alipay&sign_type=RSA2&timestamp=2026-11-22 14:13:19&version=1.0"##;
const REQUEST_TRADE_PRECREATE_SIGN: &str = r##"hFcO+hzVwZ8e98NkZdnh3VPxAL7d48rKW+JNgmMmTdQCBzj76nUNQyfQohaIe2qoOd/zLQKM8zpaE38z1+SAo6bJButVCYgu6R9IwK9GuZqaARV3E9HHi+UtwI8KFYl7K6wE0ceh4MHNaIBM8cPGzbSkgUEIys06p9wlSFzTW1xG1FBuPOTua5U48p6g3QtPCL5DYzt8KJCx6uf53GEOYlrPc4A+Hyo73yBiDBL8gpbcBC3n9yHulfdVgSbBO6DRB/Vr6s50UwgK/J98ymFQh4lY/f9/JJbr71OeYkGKF4VhM9OoSr0MOeJg/HV7AmmJZvfCE9L1Bs5B9hqdLj/Z3Q=="##;
const REQUEST_TRADE_PRECREATE_WIRE_QUERY: &str = r##"app_id=2021000000000001&biz_content=%7B%22out_trade_no%22%3A%22PC20261122061319AB12CD34EF56%22%2C%22total_amount%22%3A%220.01%22%2C%22subject%22%3A%22%E6%B5%8B%E8%AF%95%E5%95%86%E5%93%81-%E4%BC%9A%E5%91%98%E6%9C%88%E5%8D%A1%22%7D&charset=utf-8&method=alipay.trade.precreate&notify_url=https%3A%2F%2Fpay.example.com%2Fnotify%2Falipay&sign_type=RSA2&timestamp=2026-11-22+14%3A13%3A19&version=1.0&sign=hFcO%2BhzVwZ8e98NkZdnh3VPxAL7d48rKW%2BJNgmMmTdQCBzj76nUNQyfQohaIe2qoOd%2FzLQKM8zpaE38z1%2BSAo6bJButVCYgu6R9IwK9GuZqaARV3E9HHi%2BUtwI8KFYl7K6wE0ceh4MHNaIBM8cPGzbSkgUEIys06p9wlSFzTW1xG1FBuPOTua5U48p6g3QtPCL5DYzt8KJCx6uf53GEOYlrPc4A%2BHyo73yBiDBL8gpbcBC3n9yHulfdVgSbBO6DRB%2FVr6s50UwgK%2FJ98ymFQh4lY%2Ff9%2FJJbr71OeYkGKF4VhM9OoSr0MOeJg%2FHV7AmmJZvfCE9L1Bs5B9hqdLj%2FZ3Q%3D%3D"##;

// request_trade_precreate_without_sign_type (request_sign, expected invalid)
const REQUEST_TRADE_PRECREATE_WITHOUT_SIGN_TYPE_STRING_TO_SIGN: &str = r##"app_id=2021000000000001&biz_content={"out_trade_no":"PC20261122061319AB12CD34EF56","total_amount":"0.01","subject":"测试商品-会员月卡"}&charset=utf-8&method=alipay.trade.precreate&notify_url=https://pay.example.com/notify/alipay&timestamp=2026-11-22 14:13:19&version=1.0"##;
const REQUEST_TRADE_PRECREATE_WITHOUT_SIGN_TYPE_SIGN: &str = r##"hFcO+hzVwZ8e98NkZdnh3VPxAL7d48rKW+JNgmMmTdQCBzj76nUNQyfQohaIe2qoOd/zLQKM8zpaE38z1+SAo6bJButVCYgu6R9IwK9GuZqaARV3E9HHi+UtwI8KFYl7K6wE0ceh4MHNaIBM8cPGzbSkgUEIys06p9wlSFzTW1xG1FBuPOTua5U48p6g3QtPCL5DYzt8KJCx6uf53GEOYlrPc4A+Hyo73yBiDBL8gpbcBC3n9yHulfdVgSbBO6DRB/Vr6s50UwgK/J98ymFQh4lY/f9/JJbr71OeYkGKF4VhM9OoSr0MOeJg/HV7AmmJZvfCE9L1Bs5B9hqdLj/Z3Q=="##;

// notify_trade_success (notify_verify, expected valid)
const NOTIFY_TRADE_SUCCESS_FIELDS: &[(&str, &str)] = &[
    (r##"gmt_create"##, r##"2026-11-22 14:13:19"##),
    (r##"charset"##, r##"utf-8"##),
    (r##"seller_email"##, r##"shop@example.com"##),
    (r##"subject"##, r##"年度会员卡"##),
    (
        r##"sign"##,
        r##"LSl5EKcBdG8CrrcQBkWlfLcSLM7vBG2jIdXTw6/WHTC7LGq433f82scw54IjDXvHnrjU0+SfZvgK+3mhVpztqdn3o8ueqlfhxWxubQctc3AmyiSz4db39lUUP+6mfgvMv2Md/gIvai5n9zjtG+TOyzpLL3yaebWE37K41oNkz8UoPncQWb02S8Vgxh3BaKoUIAapiEA1Gor3EjSC5u5YosWuKB5gIQe3+KYuOgWIfoj61FuHxSmrslHSGQk1VaryS7B1cXjRdh5joJOR+aE8wWfdepwH1UTBTmKfqSLHZkv45fcsROpShHJ4FM/nd5CGS5UcWwwB3zcghKmA4MOQvQ=="##,
    ),
    (r##"buyer_id"##, r##"2088722012345678"##),
    (r##"invoice_amount"##, r##"88.88"##),
    (r##"notify_id"##, r##"2026112200222141502001234567890123"##),
    (
        r##"fund_bill_list"##,
        r##"[{"amount":"88.88","fundChannel":"ALIPAYACCOUNT"}]"##,
    ),
    (r##"notify_type"##, r##"trade_status_sync"##),
    (r##"trade_status"##, r##"TRADE_SUCCESS"##),
    (r##"receipt_amount"##, r##"88.88"##),
    (r##"buyer_pay_amount"##, r##"88.88"##),
    (r##"app_id"##, r##"2021000000000001"##),
    (r##"sign_type"##, r##"RSA2"##),
    (r##"seller_id"##, r##"2088621912345678"##),
    (r##"gmt_payment"##, r##"2026-11-22 14:15:01"##),
    (r##"notify_time"##, r##"2026-11-22 14:15:02"##),
    (r##"version"##, r##"1.0"##),
    (r##"out_trade_no"##, r##"PC20261122141319XY34ZW56QR78"##),
    (r##"total_amount"##, r##"88.88"##),
    (r##"trade_no"##, r##"2026112222001478901234567890"##),
    (r##"auth_app_id"##, r##"2021000000000001"##),
    (r##"buyer_logon_id"##, r##"159****5620"##),
    (r##"point_amount"##, r##"0.00"##),
];
const NOTIFY_TRADE_SUCCESS_FORM_BODY: &str = r##"gmt_create=2026-11-22+14%3A13%3A19&charset=utf-8&seller_email=shop%40example.com&subject=%E5%B9%B4%E5%BA%A6%E4%BC%9A%E5%91%98%E5%8D%A1&sign=LSl5EKcBdG8CrrcQBkWlfLcSLM7vBG2jIdXTw6%2FWHTC7LGq433f82scw54IjDXvHnrjU0%2BSfZvgK%2B3mhVpztqdn3o8ueqlfhxWxubQctc3AmyiSz4db39lUUP%2B6mfgvMv2Md%2FgIvai5n9zjtG%2BTOyzpLL3yaebWE37K41oNkz8UoPncQWb02S8Vgxh3BaKoUIAapiEA1Gor3EjSC5u5YosWuKB5gIQe3%2BKYuOgWIfoj61FuHxSmrslHSGQk1VaryS7B1cXjRdh5joJOR%2BaE8wWfdepwH1UTBTmKfqSLHZkv45fcsROpShHJ4FM%2Fnd5CGS5UcWwwB3zcghKmA4MOQvQ%3D%3D&buyer_id=2088722012345678&invoice_amount=88.88&notify_id=2026112200222141502001234567890123&fund_bill_list=%5B%7B%22amount%22%3A%2288.88%22%2C%22fundChannel%22%3A%22ALIPAYACCOUNT%22%7D%5D&notify_type=trade_status_sync&trade_status=TRADE_SUCCESS&receipt_amount=88.88&buyer_pay_amount=88.88&app_id=2021000000000001&sign_type=RSA2&seller_id=2088621912345678&gmt_payment=2026-11-22+14%3A15%3A01&notify_time=2026-11-22+14%3A15%3A02&version=1.0&out_trade_no=PC20261122141319XY34ZW56QR78&total_amount=88.88&trade_no=2026112222001478901234567890&auth_app_id=2021000000000001&buyer_logon_id=159%2A%2A%2A%2A5620&point_amount=0.00"##;
const NOTIFY_TRADE_SUCCESS_STRING_TO_VERIFY: &str = r##"app_id=2021000000000001&auth_app_id=2021000000000001&buyer_id=2088722012345678&buyer_logon_id=159****5620&buyer_pay_amount=88.88&charset=utf-8&fund_bill_list=[{"amount":"88.88","fundChannel":"ALIPAYACCOUNT"}]&gmt_create=2026-11-22 14:13:19&gmt_payment=2026-11-22 14:15:01&invoice_amount=88.88&notify_id=2026112200222141502001234567890123&notify_time=2026-11-22 14:15:02&notify_type=trade_status_sync&out_trade_no=PC20261122141319XY34ZW56QR78&point_amount=0.00&receipt_amount=88.88&seller_email=shop@example.com&seller_id=2088621912345678&subject=年度会员卡&total_amount=88.88&trade_no=2026112222001478901234567890&trade_status=TRADE_SUCCESS&version=1.0"##;
const NOTIFY_TRADE_SUCCESS_SIGN: &str = r##"LSl5EKcBdG8CrrcQBkWlfLcSLM7vBG2jIdXTw6/WHTC7LGq433f82scw54IjDXvHnrjU0+SfZvgK+3mhVpztqdn3o8ueqlfhxWxubQctc3AmyiSz4db39lUUP+6mfgvMv2Md/gIvai5n9zjtG+TOyzpLL3yaebWE37K41oNkz8UoPncQWb02S8Vgxh3BaKoUIAapiEA1Gor3EjSC5u5YosWuKB5gIQe3+KYuOgWIfoj61FuHxSmrslHSGQk1VaryS7B1cXjRdh5joJOR+aE8wWfdepwH1UTBTmKfqSLHZkv45fcsROpShHJ4FM/nd5CGS5UcWwwB3zcghKmA4MOQvQ=="##;

// notify_trade_success_sign_type_kept (notify_verify, expected invalid)
const NOTIFY_TRADE_SUCCESS_SIGN_TYPE_KEPT_STRING_TO_VERIFY: &str = r##"app_id=2021000000000001&auth_app_id=2021000000000001&buyer_id=2088722012345678&buyer_logon_id=159****5620&buyer_pay_amount=88.88&charset=utf-8&fund_bill_list=[{"amount":"88.88","fundChannel":"ALIPAYACCOUNT"}]&gmt_create=2026-11-22 14:13:19&gmt_payment=2026-11-22 14:15:01&invoice_amount=88.88&notify_id=2026112200222141502001234567890123&notify_time=2026-11-22 14:15:02&notify_type=trade_status_sync&out_trade_no=PC20261122141319XY34ZW56QR78&point_amount=0.00&receipt_amount=88.88&seller_email=shop@example.com&seller_id=2088621912345678&sign_type=RSA2&subject=年度会员卡&total_amount=88.88&trade_no=2026112222001478901234567890&trade_status=TRADE_SUCCESS&version=1.0"##;
const NOTIFY_TRADE_SUCCESS_SIGN_TYPE_KEPT_SIGN: &str = r##"LSl5EKcBdG8CrrcQBkWlfLcSLM7vBG2jIdXTw6/WHTC7LGq433f82scw54IjDXvHnrjU0+SfZvgK+3mhVpztqdn3o8ueqlfhxWxubQctc3AmyiSz4db39lUUP+6mfgvMv2Md/gIvai5n9zjtG+TOyzpLL3yaebWE37K41oNkz8UoPncQWb02S8Vgxh3BaKoUIAapiEA1Gor3EjSC5u5YosWuKB5gIQe3+KYuOgWIfoj61FuHxSmrslHSGQk1VaryS7B1cXjRdh5joJOR+aE8wWfdepwH1UTBTmKfqSLHZkv45fcsROpShHJ4FM/nd5CGS5UcWwwB3zcghKmA4MOQvQ=="##;

// notify_trade_success_amount_tampered (notify_verify, expected invalid)
const NOTIFY_TRADE_SUCCESS_AMOUNT_TAMPERED_FORM_BODY: &str = r##"gmt_create=2026-11-22+14%3A13%3A19&charset=utf-8&seller_email=shop%40example.com&subject=%E5%B9%B4%E5%BA%A6%E4%BC%9A%E5%91%98%E5%8D%A1&sign=LSl5EKcBdG8CrrcQBkWlfLcSLM7vBG2jIdXTw6%2FWHTC7LGq433f82scw54IjDXvHnrjU0%2BSfZvgK%2B3mhVpztqdn3o8ueqlfhxWxubQctc3AmyiSz4db39lUUP%2B6mfgvMv2Md%2FgIvai5n9zjtG%2BTOyzpLL3yaebWE37K41oNkz8UoPncQWb02S8Vgxh3BaKoUIAapiEA1Gor3EjSC5u5YosWuKB5gIQe3%2BKYuOgWIfoj61FuHxSmrslHSGQk1VaryS7B1cXjRdh5joJOR%2BaE8wWfdepwH1UTBTmKfqSLHZkv45fcsROpShHJ4FM%2Fnd5CGS5UcWwwB3zcghKmA4MOQvQ%3D%3D&buyer_id=2088722012345678&invoice_amount=0.01&notify_id=2026112200222141502001234567890123&fund_bill_list=%5B%7B%22amount%22%3A%2288.88%22%2C%22fundChannel%22%3A%22ALIPAYACCOUNT%22%7D%5D&notify_type=trade_status_sync&trade_status=TRADE_SUCCESS&receipt_amount=0.01&buyer_pay_amount=0.01&app_id=2021000000000001&sign_type=RSA2&seller_id=2088621912345678&gmt_payment=2026-11-22+14%3A15%3A01&notify_time=2026-11-22+14%3A15%3A02&version=1.0&out_trade_no=PC20261122141319XY34ZW56QR78&total_amount=0.01&trade_no=2026112222001478901234567890&auth_app_id=2021000000000001&buyer_logon_id=159%2A%2A%2A%2A5620&point_amount=0.00"##;
const NOTIFY_TRADE_SUCCESS_AMOUNT_TAMPERED_STRING_TO_VERIFY: &str = r##"app_id=2021000000000001&auth_app_id=2021000000000001&buyer_id=2088722012345678&buyer_logon_id=159****5620&buyer_pay_amount=0.01&charset=utf-8&fund_bill_list=[{"amount":"88.88","fundChannel":"ALIPAYACCOUNT"}]&gmt_create=2026-11-22 14:13:19&gmt_payment=2026-11-22 14:15:01&invoice_amount=0.01&notify_id=2026112200222141502001234567890123&notify_time=2026-11-22 14:15:02&notify_type=trade_status_sync&out_trade_no=PC20261122141319XY34ZW56QR78&point_amount=0.00&receipt_amount=0.01&seller_email=shop@example.com&seller_id=2088621912345678&subject=年度会员卡&total_amount=0.01&trade_no=2026112222001478901234567890&trade_status=TRADE_SUCCESS&version=1.0"##;
const NOTIFY_TRADE_SUCCESS_AMOUNT_TAMPERED_SIGN: &str = r##"LSl5EKcBdG8CrrcQBkWlfLcSLM7vBG2jIdXTw6/WHTC7LGq433f82scw54IjDXvHnrjU0+SfZvgK+3mhVpztqdn3o8ueqlfhxWxubQctc3AmyiSz4db39lUUP+6mfgvMv2Md/gIvai5n9zjtG+TOyzpLL3yaebWE37K41oNkz8UoPncQWb02S8Vgxh3BaKoUIAapiEA1Gor3EjSC5u5YosWuKB5gIQe3+KYuOgWIfoj61FuHxSmrslHSGQk1VaryS7B1cXjRdh5joJOR+aE8wWfdepwH1UTBTmKfqSLHZkv45fcsROpShHJ4FM/nd5CGS5UcWwwB3zcghKmA4MOQvQ=="##;

// sync_response_trade_precreate (sync_response_verify, expected valid)
const SYNC_RESPONSE_TRADE_PRECREATE_RESPONSE_KEY: &str = r##"alipay_trade_precreate_response"##;
const SYNC_RESPONSE_TRADE_PRECREATE_RESPONSE_BODY: &str = r##"{"alipay_trade_precreate_response":{"code":"10000","msg":"Success","out_trade_no":"PC20261122061319AB12CD34EF56","qr_code":"https://qr.alipay.com/bax08861pqkiqmuqcthb0034"},"sign":"QVglGSMpQIHN4fUj/tupJ61LMHSjpGBlzJZDuA8OijmHcAkEwGzE4WJSUnpwPVz4jgWCmMDk+XzK+FaWWxDDyoa68VFdCrBoLOT/IfVQ3a31DOKV7gZWPPICZhJOAC/g9jJ4zjxOQ0y0F0n9LocMPLlBRsyTHwsnZDMrAeSCqTQj4SOGKX/3HmR4w6Wj3jlziV1QTzDRkWSRdtrrX0QxKA0FFgCK4bOe6oU+AYS0nYZjJHZPmTe331VHzPIZptp/OAADn9gJaSF1ZRSTynNQ4/tGIpMqpqwFUOPSPw+zkl2t05B7mkc/FGw2SHQ9RZ+8iqOE9bFvJmrwBcPAUQ/GMg=="}"##;
const SYNC_RESPONSE_TRADE_PRECREATE_SIGNED_TEXT: &str = r##"{"code":"10000","msg":"Success","out_trade_no":"PC20261122061319AB12CD34EF56","qr_code":"https://qr.alipay.com/bax08861pqkiqmuqcthb0034"}"##;
const SYNC_RESPONSE_TRADE_PRECREATE_SIGNED_TEXT_RANGE: std::ops::Range<usize> = 35..172;
const SYNC_RESPONSE_TRADE_PRECREATE_SIGN: &str = r##"QVglGSMpQIHN4fUj/tupJ61LMHSjpGBlzJZDuA8OijmHcAkEwGzE4WJSUnpwPVz4jgWCmMDk+XzK+FaWWxDDyoa68VFdCrBoLOT/IfVQ3a31DOKV7gZWPPICZhJOAC/g9jJ4zjxOQ0y0F0n9LocMPLlBRsyTHwsnZDMrAeSCqTQj4SOGKX/3HmR4w6Wj3jlziV1QTzDRkWSRdtrrX0QxKA0FFgCK4bOe6oU+AYS0nYZjJHZPmTe331VHzPIZptp/OAADn9gJaSF1ZRSTynNQ4/tGIpMqpqwFUOPSPw+zkl2t05B7mkc/FGw2SHQ9RZ+8iqOE9bFvJmrwBcPAUQ/GMg=="##;

// sync_response_trade_precreate_reserialized (sync_response_verify, expected invalid)
const SYNC_RESPONSE_TRADE_PRECREATE_RESERIALIZED_SIGNED_TEXT: &str = r##"{"code": "10000", "msg": "Success", "out_trade_no": "PC20261122061319AB12CD34EF56", "qr_code": "https://qr.alipay.com/bax08861pqkiqmuqcthb0034"}"##;
const SYNC_RESPONSE_TRADE_PRECREATE_RESERIALIZED_SIGN: &str = r##"QVglGSMpQIHN4fUj/tupJ61LMHSjpGBlzJZDuA8OijmHcAkEwGzE4WJSUnpwPVz4jgWCmMDk+XzK+FaWWxDDyoa68VFdCrBoLOT/IfVQ3a31DOKV7gZWPPICZhJOAC/g9jJ4zjxOQ0y0F0n9LocMPLlBRsyTHwsnZDMrAeSCqTQj4SOGKX/3HmR4w6Wj3jlziV1QTzDRkWSRdtrrX0QxKA0FFgCK4bOe6oU+AYS0nYZjJHZPmTe331VHzPIZptp/OAADn9gJaSF1ZRSTynNQ4/tGIpMqpqwFUOPSPw+zkl2t05B7mkc/FGw2SHQ9RZ+8iqOE9bFvJmrwBcPAUQ/GMg=="##;

// ---- helpers ----

fn private(pem: &str) -> PrivateKey {
    match PrivateKey::from_pem(pem) {
        Ok(key) => key,
        Err(e) => panic!("test private key must load: {e}"),
    }
}

fn public(pem: &str) -> PublicKey {
    match PublicKey::from_pem(pem) {
        Ok(key) => key,
        Err(e) => panic!("test public key must load: {e}"),
    }
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The `sign` member of a gateway body (outside the signed text, so reading
/// it with a full JSON parser is fine).
fn body_sign(body: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(body).expect("vector body is JSON");
    value["sign"].as_str().expect("sign is a string").to_owned()
}

/// A PEM's Base64 body without armour or line breaks, as the Alipay console
/// shows keys.
fn bare(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

// ---- vector cases ----

#[test]
fn case_raw_hello() {
    let key = private(FZLEE_APP_PRIVATE_KEY_PEM_PKCS1);
    assert_eq!(key.sign(RAW_HELLO_MESSAGE.as_bytes()), RAW_HELLO_SIGN);
    assert!(public(FZLEE_APP_PUBLIC_KEY_PEM).verify(RAW_HELLO_MESSAGE.as_bytes(), RAW_HELLO_SIGN));
}

#[test]
fn case_real_sync_response_trade_query() {
    let alipay = public(GOPAY_ALIPAY_PUBLIC_KEY_PUBLIC_KEY_PEM);
    let body = REAL_SYNC_RESPONSE_TRADE_QUERY_RESPONSE_BODY_ASSEMBLED;
    let text = response_text(body, REAL_SYNC_RESPONSE_TRADE_QUERY_RESPONSE_KEY);
    assert_eq!(text, Some(REAL_SYNC_RESPONSE_TRADE_QUERY_SIGNED_TEXT));
    assert_eq!(body_sign(body), REAL_SYNC_RESPONSE_TRADE_QUERY_SIGN);
    assert_eq!(
        response_key("alipay.trade.query"),
        REAL_SYNC_RESPONSE_TRADE_QUERY_RESPONSE_KEY
    );
    assert!(alipay.verify(
        REAL_SYNC_RESPONSE_TRADE_QUERY_SIGNED_TEXT.as_bytes(),
        REAL_SYNC_RESPONSE_TRADE_QUERY_SIGN
    ));
    // The console's bare Base64 form of the same key works the same.
    let bare_key = public(GOPAY_ALIPAY_PUBLIC_KEY_PUBLIC_KEY_BASE64);
    assert_eq!(bare_key, alipay);
    assert!(bare_key.verify(
        REAL_SYNC_RESPONSE_TRADE_QUERY_SIGNED_TEXT.as_bytes(),
        REAL_SYNC_RESPONSE_TRADE_QUERY_SIGN
    ));
}

#[test]
fn case_real_sync_response_trade_query_tampered() {
    let alipay = public(GOPAY_ALIPAY_PUBLIC_KEY_PUBLIC_KEY_PEM);
    assert_eq!(
        REAL_SYNC_RESPONSE_TRADE_QUERY_TAMPERED_RESPONSE_KEY,
        response_key("alipay.trade.query")
    );
    assert!(!alipay.verify(
        REAL_SYNC_RESPONSE_TRADE_QUERY_TAMPERED_SIGNED_TEXT.as_bytes(),
        REAL_SYNC_RESPONSE_TRADE_QUERY_TAMPERED_SIGN
    ));
}

#[test]
fn case_request_trade_precreate() {
    let params = map(REQUEST_TRADE_PRECREATE_PARAMS);
    let string = request_string_to_sign(&params);
    assert_eq!(string, REQUEST_TRADE_PRECREATE_STRING_TO_SIGN);
    let sign = private(FZLEE_APP_PRIVATE_KEY_PEM_PKCS1).sign(string.as_bytes());
    assert_eq!(sign, REQUEST_TRADE_PRECREATE_SIGN);
    assert!(public(FZLEE_APP_PUBLIC_KEY_PEM).verify(string.as_bytes(), &sign));

    // The wire form decodes back to the same parameters (minus the empty
    // app_auth_token, which need not be sent) plus sign; the string to sign
    // is unaffected by the encoding.
    let mut wire =
        form::decode(REQUEST_TRADE_PRECREATE_WIRE_QUERY.as_bytes()).expect("wire decodes");
    assert_eq!(
        wire.remove("sign").as_deref(),
        Some(REQUEST_TRADE_PRECREATE_SIGN)
    );
    assert_eq!(
        request_string_to_sign(&wire),
        REQUEST_TRADE_PRECREATE_STRING_TO_SIGN
    );
    let mut sent = params.clone();
    sent.retain(|_, v| !v.is_empty());
    assert_eq!(wire, sent);
    // And our own encoding round-trips.
    assert_eq!(form::decode(form::encode(&params).as_bytes()), Ok(params));
}

#[test]
fn case_request_trade_precreate_without_sign_type() {
    let app = public(FZLEE_APP_PUBLIC_KEY_PEM);
    assert!(!app.verify(
        REQUEST_TRADE_PRECREATE_WITHOUT_SIGN_TYPE_STRING_TO_SIGN.as_bytes(),
        REQUEST_TRADE_PRECREATE_WITHOUT_SIGN_TYPE_SIGN
    ));
    assert_ne!(
        request_string_to_sign(&map(REQUEST_TRADE_PRECREATE_PARAMS)),
        REQUEST_TRADE_PRECREATE_WITHOUT_SIGN_TYPE_STRING_TO_SIGN
    );
}

#[test]
fn case_notify_trade_success() {
    let fields = form::decode(NOTIFY_TRADE_SUCCESS_FORM_BODY.as_bytes()).expect("notify decodes");
    assert_eq!(fields, map(NOTIFY_TRADE_SUCCESS_FIELDS));
    let string = notify_string_to_verify(&fields);
    assert_eq!(string, NOTIFY_TRADE_SUCCESS_STRING_TO_VERIFY);
    let sign = fields.get("sign").map(String::as_str).unwrap_or_default();
    assert_eq!(sign, NOTIFY_TRADE_SUCCESS_SIGN);
    assert!(public(FZLEE_ALI_PUBLIC_KEY_PEM).verify(string.as_bytes(), sign));
    // The ali test private key reproduces the notify's signature.
    assert_eq!(
        private(FZLEE_ALI_PRIVATE_KEY_PEM_PKCS1).sign(string.as_bytes()),
        NOTIFY_TRADE_SUCCESS_SIGN
    );
}

#[test]
fn case_notify_trade_success_sign_type_kept() {
    let ali = public(FZLEE_ALI_PUBLIC_KEY_PEM);
    assert!(!ali.verify(
        NOTIFY_TRADE_SUCCESS_SIGN_TYPE_KEPT_STRING_TO_VERIFY.as_bytes(),
        NOTIFY_TRADE_SUCCESS_SIGN_TYPE_KEPT_SIGN
    ));
    assert_eq!(
        request_string_to_sign(&map(NOTIFY_TRADE_SUCCESS_FIELDS)),
        NOTIFY_TRADE_SUCCESS_SIGN_TYPE_KEPT_STRING_TO_VERIFY,
        "the request rule applied to a notify gives exactly this wrong string"
    );
}

#[test]
fn case_notify_trade_success_amount_tampered() {
    let fields = form::decode(NOTIFY_TRADE_SUCCESS_AMOUNT_TAMPERED_FORM_BODY.as_bytes())
        .expect("tampered notify still decodes");
    let string = notify_string_to_verify(&fields);
    assert_eq!(
        string,
        NOTIFY_TRADE_SUCCESS_AMOUNT_TAMPERED_STRING_TO_VERIFY
    );
    let sign = fields.get("sign").map(String::as_str).unwrap_or_default();
    assert_eq!(sign, NOTIFY_TRADE_SUCCESS_AMOUNT_TAMPERED_SIGN);
    assert!(!public(FZLEE_ALI_PUBLIC_KEY_PEM).verify(string.as_bytes(), sign));
}

#[test]
fn case_sync_response_trade_precreate() {
    let body = SYNC_RESPONSE_TRADE_PRECREATE_RESPONSE_BODY;
    let key = response_key("alipay.trade.precreate");
    assert_eq!(key, SYNC_RESPONSE_TRADE_PRECREATE_RESPONSE_KEY);
    let text = response_text(body, &key).expect("response text found");
    assert_eq!(text, SYNC_RESPONSE_TRADE_PRECREATE_SIGNED_TEXT);
    assert_eq!(
        body.get(SYNC_RESPONSE_TRADE_PRECREATE_SIGNED_TEXT_RANGE),
        Some(text)
    );
    let sign = body_sign(body);
    assert_eq!(sign, SYNC_RESPONSE_TRADE_PRECREATE_SIGN);
    assert!(public(FZLEE_ALI_PUBLIC_KEY_PEM).verify(text.as_bytes(), &sign));
    // A sandbox built on sign_response_body produces the vector body exactly.
    let ali = private(FZLEE_ALI_PRIVATE_KEY_PEM_PKCS1);
    assert_eq!(
        sign_response_body("alipay.trade.precreate", text, &ali),
        SYNC_RESPONSE_TRADE_PRECREATE_RESPONSE_BODY
    );
}

#[test]
fn case_sync_response_trade_precreate_reserialized() {
    let ali = public(FZLEE_ALI_PUBLIC_KEY_PEM);
    assert!(!ali.verify(
        SYNC_RESPONSE_TRADE_PRECREATE_RESERIALIZED_SIGNED_TEXT.as_bytes(),
        SYNC_RESPONSE_TRADE_PRECREATE_RESERIALIZED_SIGN
    ));
    // Same JSON value as the genuine text, different bytes.
    let parsed = |t: &str| serde_json::from_str::<serde_json::Value>(t).expect("json");
    assert_eq!(
        parsed(SYNC_RESPONSE_TRADE_PRECREATE_RESERIALIZED_SIGNED_TEXT),
        parsed(SYNC_RESPONSE_TRADE_PRECREATE_SIGNED_TEXT)
    );
}

// ---- key formats ----

#[test]
fn pkcs8_signs_like_pkcs1() {
    assert_eq!(APP_PRIVATE_PKCS8_OPENSSL, FZLEE_APP_PRIVATE_KEY_PEM_PKCS8);
    let pkcs1 = private(FZLEE_APP_PRIVATE_KEY_PEM_PKCS1);
    let pkcs8 = private(APP_PRIVATE_PKCS8_OPENSSL);
    let msg = REQUEST_TRADE_PRECREATE_STRING_TO_SIGN.as_bytes();
    assert_eq!(pkcs8.sign(msg), pkcs1.sign(msg));
    assert_eq!(pkcs8.sign(RAW_HELLO_MESSAGE.as_bytes()), RAW_HELLO_SIGN);
    let ali8 = private(FZLEE_ALI_PRIVATE_KEY_PEM_PKCS8);
    assert_eq!(
        ali8.sign(NOTIFY_TRADE_SUCCESS_STRING_TO_VERIFY.as_bytes()),
        NOTIFY_TRADE_SUCCESS_SIGN
    );
}

#[test]
fn bare_base64_keys() {
    for pem in [
        FZLEE_APP_PRIVATE_KEY_PEM_PKCS1,
        FZLEE_APP_PRIVATE_KEY_PEM_PKCS8,
    ] {
        // One line, as the console shows it, and with its line breaks kept.
        for text in [
            bare(pem),
            pem.lines()
                .filter(|l| !l.starts_with("-----"))
                .map(|l| format!("{l}\r\n"))
                .collect(),
        ] {
            let key = private(&text);
            assert_eq!(key.sign(RAW_HELLO_MESSAGE.as_bytes()), RAW_HELLO_SIGN);
        }
    }
    let app = public(FZLEE_APP_PUBLIC_KEY_PEM);
    assert_eq!(public(&bare(FZLEE_APP_PUBLIC_KEY_PEM)), app);
    assert_eq!(public(&bare(APP_PUBLIC_PKCS1_PEM)), app);
    assert_eq!(
        bare(GOPAY_ALIPAY_PUBLIC_KEY_PUBLIC_KEY_PEM),
        GOPAY_ALIPAY_PUBLIC_KEY_PUBLIC_KEY_BASE64
    );
}

#[test]
fn public_key_forms_agree() {
    let app = public(FZLEE_APP_PUBLIC_KEY_PEM);
    assert_eq!(public(APP_PUBLIC_PKCS1_PEM), app);
    assert_eq!(private(FZLEE_APP_PRIVATE_KEY_PEM_PKCS1).public_key(), app);
    assert_eq!(
        private(FZLEE_ALI_PRIVATE_KEY_PEM_PKCS8).public_key(),
        public(FZLEE_ALI_PUBLIC_KEY_PEM)
    );
    assert!(app.verify(RAW_HELLO_MESSAGE.as_bytes(), RAW_HELLO_SIGN));
    assert_eq!(app.bits(), 2048);
}

#[test]
fn to_pem_matches_openssl_layout() {
    for pem in [
        FZLEE_APP_PUBLIC_KEY_PEM,
        FZLEE_ALI_PUBLIC_KEY_PEM,
        GOPAY_ALIPAY_PUBLIC_KEY_PUBLIC_KEY_PEM,
    ] {
        assert_eq!(public(pem).to_pem(), pem);
    }
    assert_eq!(
        public(APP_PUBLIC_PKCS1_PEM).to_pem(),
        FZLEE_APP_PUBLIC_KEY_PEM
    );
    assert_eq!(
        private(FZLEE_ALI_PRIVATE_KEY_PEM_PKCS1)
            .public_key()
            .to_pem(),
        FZLEE_ALI_PUBLIC_KEY_PEM
    );
}

#[test]
fn debug_never_shows_key_material() {
    let key = private(FZLEE_APP_PRIVATE_KEY_PEM_PKCS1);
    assert_eq!(format!("{key:?}"), "PrivateKey(<redacted, 2048 bits>)");
    assert_eq!(
        format!("{:?}", key.public_key()),
        "PublicKey(<RSA 2048 bits>)"
    );
}

#[test]
fn garbage_and_wrong_keys_are_key_errors() {
    let garbage = "-----BEGIN RSA PRIVATE KEY-----\nnot*base64!\n-----END RSA PRIVATE KEY-----\n";
    assert_eq!(
        PrivateKey::from_pem(garbage).err(),
        Some(KeyError::MalformedPem)
    );
    // Valid Base64 that is not a key.
    let junk = "-----BEGIN RSA PRIVATE KEY-----\naGVsbG8gd29ybGQ=\n-----END RSA PRIVATE KEY-----\n";
    assert!(matches!(
        PrivateKey::from_pem(junk),
        Err(KeyError::Rejected {
            format: "PKCS#1",
            ..
        })
    ));
    assert!(matches!(
        PrivateKey::from_pem("aGVsbG8gd29ybGQ="),
        Err(KeyError::Rejected { .. })
    ));
    assert_eq!(PrivateKey::from_pem("").err(), Some(KeyError::Empty));
    assert_eq!(PrivateKey::from_pem(" \n ").err(), Some(KeyError::Empty));
    assert_eq!(
        PrivateKey::from_pem("hello world!").err(),
        Some(KeyError::Base64)
    );
    // Missing END line.
    let truncated = &FZLEE_APP_PRIVATE_KEY_PEM_PKCS1[..200];
    assert_eq!(
        PrivateKey::from_pem(truncated).err(),
        Some(KeyError::MalformedPem)
    );
    // A public key is not a private key and vice versa.
    assert!(matches!(
        PrivateKey::from_pem(FZLEE_APP_PUBLIC_KEY_PEM),
        Err(KeyError::NotFound { .. })
    ));
    assert!(matches!(
        PublicKey::from_pem(FZLEE_APP_PRIVATE_KEY_PEM_PKCS1),
        Err(KeyError::NotFound { .. })
    ));
    assert!(matches!(
        PublicKey::from_pem(&bare(FZLEE_APP_PRIVATE_KEY_PEM_PKCS1)),
        Err(KeyError::Der(_))
    ));
    assert_eq!(
        PrivateKey::from_pem(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"
        )
        .err(),
        Some(KeyError::Encrypted)
    );
    assert_eq!(
        PublicKey::from_pem(SMALL_1024_PUBLIC_PEM).err(),
        Some(KeyError::ModulusSize { bits: 1024 })
    );
    let unterminated = "-----BEGIN RSA PUBLIC KEY-----\nMIIBCgKCAQEA\n";
    assert_eq!(
        PublicKey::from_pem(unterminated).err(),
        Some(KeyError::MalformedPem)
    );

    // No error message repeats any of the key text it was given.
    let body_line = FZLEE_APP_PRIVATE_KEY_PEM_PKCS1
        .lines()
        .nth(3)
        .unwrap_or_default();
    let broken = FZLEE_APP_PRIVATE_KEY_PEM_PKCS1.replace(body_line, &body_line[..40]);
    let err = PrivateKey::from_pem(&broken).expect_err("broken key");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(&body_line[..16]), "{shown}");
}

#[test]
fn spki_with_other_algorithm_is_not_rsa() {
    // 30 82 01 22 | 30 0d | 06 09 <rsaEncryption> 05 00 | 03 82 01 0f 00 …
    let app_der = base64_decode(&bare(FZLEE_APP_PUBLIC_KEY_PEM));
    let mut der = app_der.clone();
    assert_eq!(
        &der[8..17],
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01]
    );
    // 1.2.840.113549.1.1.11 (sha256WithRSAEncryption): an OID, not a key type.
    der[16] = 0x0b;
    assert_eq!(
        PublicKey::from_pem(&base64_encode(&der)).err(),
        Some(KeyError::NotRsa)
    );
    // Trailing bytes after the SPKI are refused.
    let mut long = app_der;
    long.push(0);
    assert!(matches!(
        PublicKey::from_pem(&base64_encode(&long)),
        Err(KeyError::Der(_))
    ));
}

#[test]
fn verify_is_false_on_bad_base64() {
    let app = public(FZLEE_APP_PUBLIC_KEY_PEM);
    let msg = RAW_HELLO_MESSAGE.as_bytes();
    assert!(!app.verify(msg, ""));
    assert!(!app.verify(msg, "not base64!"));
    assert!(!app.verify(msg, &RAW_HELLO_SIGN.replace('+', " ")));
    assert!(!app.verify(msg, &RAW_HELLO_SIGN[..RAW_HELLO_SIGN.len() - 2]));
    assert!(!app.verify(msg, "AAAA"));
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("test base64")
}

fn base64_encode(der: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(der)
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Random single-byte corruptions of a real SPKI never panic, and
        /// whatever still loads still only verifies with valid signatures.
        #[test]
        fn corrupted_spki_never_panics(pos in 0usize..294, byte in any::<u8>()) {
            let mut der = base64_decode(&bare(FZLEE_APP_PUBLIC_KEY_PEM));
            if let Some(b) = der.get_mut(pos) {
                *b = byte;
            }
            if let Ok(key) = PublicKey::from_pem(&base64_encode(&der)) {
                let _ = key.verify(RAW_HELLO_MESSAGE.as_bytes(), RAW_HELLO_SIGN);
                let _ = key.to_pem();
            }
        }

        #[test]
        fn truncated_private_der_never_panics(len in 0usize..1200) {
            let der = base64_decode(&bare(FZLEE_APP_PRIVATE_KEY_PEM_PKCS8));
            let _ = PrivateKey::from_pem(&base64_encode(&der[..len.min(der.len())]));
        }
    }
}
