//! The responses the reactor sends itself when it refuses a request before the app sees
//! it. The body is the reason phrase; nothing from the request is ever echoed.

/// The status and reason phrase sent for `status`; statuses without a refusal of their
/// own become 500.
fn status_line(status: u16) -> (u16, &'static str) {
    match status {
        400 => (400, "Bad Request"),
        408 => (408, "Request Timeout"),
        413 => (413, "Content Too Large"),
        414 => (414, "URI Too Long"),
        417 => (417, "Expectation Failed"),
        431 => (431, "Request Header Fields Too Large"),
        501 => (501, "Not Implemented"),
        _ => (500, "Internal Server Error"),
    }
}

/// The refusal as an HTTP response (uwsgi: the proxy parses what it gets as HTTP),
/// announcing the close that follows.
pub fn http(status: u16) -> Vec<u8> {
    let (code, reason) = status_line(status);
    let length = reason.len() + 1;
    format!("HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n{reason}\n").into_bytes()
}

/// The refusal as a CGI response (FastCGI STDOUT): the web server owns the connection.
pub fn cgi(status: u16) -> Vec<u8> {
    let (code, reason) = status_line(status);
    let length = reason.len() + 1;
    format!("Status: {code} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {length}\r\n\r\n{reason}\n")
        .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_byte_exact() {
        assert_eq!(
            http(413),
            b"HTTP/1.1 413 Content Too Large\r\nContent-Type: text/plain\r\nContent-Length: 18\r\nConnection: close\r\n\r\nContent Too Large\n"
        );
        assert_eq!(
            cgi(400),
            b"Status: 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nBad Request\n"
        );
        assert_eq!(cgi(999), b"Status: 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 22\r\n\r\nInternal Server Error\n");
    }
}
