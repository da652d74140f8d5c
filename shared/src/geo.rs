//! Where a client is, for `GET /tenants/client-config` (DESIGN §3): from CloudFront's
//! viewer headers when the request came through CloudFront with them enabled, else from
//! a configured GeoIP database (MaxMind DB format: GeoLite2/GeoIP2 City or Country)
//! looked up by the caller's source address, else unknown (`null`).

use std::net::IpAddr;
use std::path::Path;

use http::HeaderMap;
use maxminddb::{Reader, geoip2};
use serde::Serialize;

use crate::config::{ConfigError, GEOIP_DATABASE};

/// A client's location, in the shape of the seeds' `clientIpLocation`. Only the country
/// code is certain to be present; every other field may be `null`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(
    title = "Client location",
    description = "Where a client is, from its IP address. Only the country code is certain \
        to be present; every other field may be `null`.",
    example = crate::http::openapi::examples::location
)]
pub struct Location {
    /// The country, as an ISO 3166-1 alpha-2 code.
    #[schema(example = "GB")]
    pub country_code: String,
    /// The country's name, in English.
    #[schema(required = true, example = "United Kingdom")]
    pub country_name: Option<String>,
    /// The region (state, province) as its ISO 3166-2 subdivision code, without the
    /// country.
    #[schema(required = true, example = "ENG")]
    pub region_code: Option<String>,
    /// The region's name, in English.
    #[schema(required = true, example = "England")]
    pub region_name: Option<String>,
    /// The city's name, in English.
    #[schema(required = true, example = "London")]
    pub city_name: Option<String>,
    /// The postal code, as far as it is known.
    #[schema(required = true, example = "EC1A")]
    pub postal_code: Option<String>,
    /// Approximate latitude, in degrees.
    #[schema(required = true, example = 51.5142)]
    pub latitude: Option<f64>,
    /// Approximate longitude, in degrees.
    #[schema(required = true, example = -0.0931)]
    pub longitude: Option<f64>,
    /// How far off the coordinates may be, in kilometres (GeoIP databases only).
    #[schema(required = true, example = 50)]
    pub accuracy_radius: Option<u16>,
}

impl Location {
    /// From CloudFront's `CloudFront-Viewer-*` headers; `None` without a country.
    pub fn from_cloudfront(headers: &HeaderMap) -> Option<Self> {
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let number = |name: &str| {
            text(name)
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|n| n.is_finite())
        };
        Some(Self {
            country_code: text("cloudfront-viewer-country")?,
            country_name: text("cloudfront-viewer-country-name"),
            region_code: text("cloudfront-viewer-country-region"),
            region_name: text("cloudfront-viewer-country-region-name"),
            city_name: text("cloudfront-viewer-city"),
            postal_code: text("cloudfront-viewer-postal-code"),
            latitude: number("cloudfront-viewer-latitude"),
            longitude: number("cloudfront-viewer-longitude"),
            accuracy_radius: None,
        })
    }
}

/// A GeoIP database, read whole into memory at start (a Country database is a few MiB,
/// a City database some tens: size the function's memory for it).
pub struct GeoIp {
    reader: Reader<Vec<u8>>,
}

impl std::fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoIp")
            .field("database_type", &self.reader.metadata.database_type)
            .finish()
    }
}

impl GeoIp {
    /// Opens the database at `path`; a missing, unreadable or malformed file is a
    /// setting error, so a function with a broken database stops at init.
    pub fn open(path: &Path) -> Result<Self, ConfigError> {
        let problem = |e: &dyn std::fmt::Display| ConfigError {
            variable: GEOIP_DATABASE,
            problem: format!("{}: {e}", path.display()),
        };
        let reader = Reader::open_readfile(path).map_err(|e| problem(&e))?;
        let kind = &reader.metadata.database_type;
        if !(kind.contains("City") || kind.contains("Country")) {
            return Err(problem(&format_args!(
                "a {kind} database has no countries; use a City or Country database"
            )));
        }
        Ok(Self { reader })
    }

    /// The location of `ip`, if the database knows its country. A record the database
    /// cannot decode counts as unknown: a location is a hint, never a reason to fail.
    pub fn locate(&self, ip: IpAddr) -> Option<Location> {
        // An IPv4 client reached over IPv6 (`::ffff:a.b.c.d`) is looked up as IPv4.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let found = self.reader.lookup(ip).ok()?;
        // City databases are a superset of Country ones, so one shape reads both.
        let city: geoip2::City = found.decode().ok()??;
        let owned = |s: Option<&str>| s.map(str::to_owned);
        let region = city.subdivisions.first();
        Some(Location {
            country_code: city.country.iso_code?.to_owned(),
            country_name: owned(city.country.names.english),
            region_code: owned(region.and_then(|r| r.iso_code)),
            region_name: owned(region.and_then(|r| r.names.english)),
            city_name: owned(city.city.names.english),
            postal_code: owned(city.postal.code),
            latitude: city.location.latitude,
            longitude: city.location.longitude,
            accuracy_radius: city.location.accuracy_radius,
        })
    }
}

/// The location of a request: CloudFront's viewer headers first (behind CloudFront the
/// source address is CloudFront's own), then the GeoIP database, else unknown.
pub fn client_location(
    headers: &HeaderMap,
    source: Option<IpAddr>,
    geoip: Option<&GeoIp>,
) -> Option<Location> {
    Location::from_cloudfront(headers).or_else(|| geoip?.locate(source?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloudfront_headers_need_a_country_and_keep_only_finite_numbers() {
        let mut h = HeaderMap::new();
        h.insert("cloudfront-viewer-city", "Lyon".parse().unwrap());
        assert_eq!(Location::from_cloudfront(&h), None);
        h.insert("cloudfront-viewer-country", "FR".parse().unwrap());
        h.insert("cloudfront-viewer-latitude", "45.76".parse().unwrap());
        h.insert("cloudfront-viewer-longitude", "NaN".parse().unwrap());
        let l = Location::from_cloudfront(&h).unwrap();
        assert_eq!(l.country_code, "FR");
        assert_eq!(l.city_name.as_deref(), Some("Lyon"));
        assert_eq!(l.latitude, Some(45.76));
        assert_eq!(l.longitude, None);
    }

    #[test]
    fn a_file_that_is_not_a_geoip_database_names_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("not.mmdb");
        std::fs::write(&path, b"hello").unwrap();
        let e = GeoIp::open(&path).unwrap_err();
        assert_eq!(e.variable, GEOIP_DATABASE);
        let e = GeoIp::open(&dir.path().join("missing.mmdb")).unwrap_err();
        assert_eq!(e.variable, GEOIP_DATABASE);
    }

    #[test]
    fn without_headers_or_a_database_the_location_is_unknown() {
        let ip = Some("81.2.69.142".parse().unwrap());
        assert_eq!(client_location(&HeaderMap::new(), ip, None), None);
    }
}
