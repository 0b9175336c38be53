//! The user name a client certificate carries: with mutual TLS, the subject common name of a
//! certificate rustls has verified is the user.

/// The subject common name of a DER certificate, which with mTLS is the user name.
///
/// rustls has already verified the chain; only the subject is read here, by walking the DER
/// down to it (Certificate → tbsCertificate → subject) rather than pulling in an X.509 parser
/// for one field. Errors are for the log.
pub fn subject_common_name(cert: &[u8]) -> Result<String, &'static str> {
    const MALFORMED: &str = "certificate is not well-formed DER";
    let (cert, _) = expect(cert, 0x30).ok_or(MALFORMED)?;
    let (tbs, _) = expect(cert, 0x30).ok_or(MALFORMED)?;
    let mut rest = tbs;
    // version [0] EXPLICIT, absent in v1 certificates.
    if rest.first() == Some(&0xa0) {
        rest = tlv(rest).ok_or(MALFORMED)?.2;
    }
    // serialNumber, signature, issuer, validity.
    for tag in [0x02, 0x30, 0x30, 0x30] {
        rest = expect(rest, tag).ok_or(MALFORMED)?.1;
    }
    let (mut rdns, _) = expect(rest, 0x30).ok_or(MALFORMED)?;
    let mut found = None;
    while !rdns.is_empty() {
        let (set, next) = expect(rdns, 0x31).ok_or(MALFORMED)?;
        rdns = next;
        let mut attrs = set;
        while !attrs.is_empty() {
            let (atv, next) = expect(attrs, 0x30).ok_or(MALFORMED)?;
            attrs = next;
            let (oid, value) = expect(atv, 0x06).ok_or(MALFORMED)?;
            // id-at-commonName, 2.5.4.3.
            if oid != [0x55, 0x04, 0x03] {
                continue;
            }
            if found.is_some() {
                return Err("certificate subject has more than one common name");
            }
            let (tag, body, _) = tlv(value).ok_or(MALFORMED)?;
            found = Some(directory_string(tag, body)?);
        }
    }
    let cn = found.ok_or("certificate subject has no common name")?;
    if cn.is_empty() || cn.chars().any(char::is_control) {
        return Err("certificate common name is empty or holds control characters");
    }
    Ok(cn)
}

/// One DER element: (tag, contents, what follows).
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    // Multi-byte tags never occur on the path we walk.
    if tag & 0x1f == 0x1f {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| acc << 8 | *b as usize);
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (t, body, rest) = tlv(input)?;
    (t == tag).then_some((body, rest))
}

/// X.520 DirectoryString and the string types CAs use for names.
fn directory_string(tag: u8, body: &[u8]) -> Result<String, &'static str> {
    match tag {
        // UTF8String
        0x0c => {
            String::from_utf8(body.to_vec()).map_err(|_| "certificate common name is not UTF-8")
        }
        // PrintableString, IA5String
        0x13 | 0x16 if body.is_ascii() => Ok(String::from_utf8_lossy(body).into_owned()),
        // BMPString: UTF-16BE
        0x1e if body.len().is_multiple_of(2) => {
            let units: Vec<u16> = body
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).map_err(|_| "certificate common name is not valid UTF-16")
        }
        _ => Err("certificate common name has an unsupported string type"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A DER certificate skeleton: only the fields the walk looks at are real.
    fn cert_with_subject(subject: &[u8]) -> Vec<u8> {
        fn wrap(tag: u8, body: &[u8]) -> Vec<u8> {
            let mut v = vec![tag];
            if body.len() < 0x80 {
                v.push(body.len() as u8);
            } else {
                v.extend_from_slice(&[0x82, (body.len() >> 8) as u8, body.len() as u8]);
            }
            v.extend_from_slice(body);
            v
        }
        let mut tbs = wrap(0xa0, &wrap(0x02, &[2]));
        tbs.extend(wrap(0x02, &[1]));
        tbs.extend(wrap(0x30, &[]));
        tbs.extend(wrap(0x30, &[]));
        tbs.extend(wrap(0x30, &[]));
        tbs.extend(wrap(0x30, subject));
        wrap(0x30, &wrap(0x30, &tbs))
    }

    fn rdn(oid: &[u8], tag: u8, value: &[u8]) -> Vec<u8> {
        let mut atv = vec![0x06, oid.len() as u8];
        atv.extend_from_slice(oid);
        atv.extend_from_slice(&[tag, value.len() as u8]);
        atv.extend_from_slice(value);
        let mut seq = vec![0x30, atv.len() as u8];
        seq.extend(atv);
        let mut set = vec![0x31, seq.len() as u8];
        set.extend(seq);
        set
    }

    #[test]
    fn common_name_is_read_from_the_subject() {
        const CN: &[u8] = &[0x55, 0x04, 0x03];
        const O: &[u8] = &[0x55, 0x04, 0x0a];
        let mut subject = rdn(O, 0x13, b"Example");
        subject.extend(rdn(CN, 0x0c, "carolé".as_bytes()));
        assert_eq!(
            subject_common_name(&cert_with_subject(&subject)).unwrap(),
            "carolé"
        );
        let bmp: Vec<u8> = "dan".encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert_eq!(
            subject_common_name(&cert_with_subject(&rdn(CN, 0x1e, &bmp))).unwrap(),
            "dan"
        );
        assert!(subject_common_name(&cert_with_subject(&rdn(O, 0x13, b"x")))
            .unwrap_err()
            .contains("no common name"));
        let mut two = rdn(CN, 0x13, b"a");
        two.extend(rdn(CN, 0x13, b"b"));
        assert!(subject_common_name(&cert_with_subject(&two))
            .unwrap_err()
            .contains("more than one"));
        assert!(subject_common_name(&cert_with_subject(&rdn(CN, 0x0c, b"a\nb"))).is_err());
        let good = cert_with_subject(&rdn(CN, 0x13, b"a"));
        for cut in 0..good.len() {
            assert!(
                subject_common_name(&good[..cut]).is_err(),
                "truncated at {cut}"
            );
        }
    }
}
