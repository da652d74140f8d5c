//! The test GeoIP database, written by an independent MaxMind DB writer.

use crate::venv_python;

/// Networks of the test GeoIP database: `81.2.69.0/24` is London (a City record with
/// every field), `2.125.160.0/24` knows only its country; nothing else is in it.
pub const GEOIP_LONDON: &str = "81.2.69.142";
pub const GEOIP_COUNTRY_ONLY: &str = "2.125.160.216";

/// Writes the test GeoIP database to `path` with an independent MaxMind DB writer
/// (Python `mmdb-writer` in the project's `.venv`), so the reader is tested against a
/// file it did not make itself.
pub fn write_geoip_database(path: &std::path::Path) {
    const SCRIPT: &str = r#"
import sys
from netaddr import IPSet
from mmdb_writer import MMDBWriter, MmdbF64, MmdbU16, MmdbU32
w = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-City",
               languages=["en"], description="PERS test database")
w.insert_network(IPSet(["81.2.69.0/24"]), {
    "city": {"geoname_id": MmdbU32(2643743), "names": {"en": "London"}},
    "country": {"iso_code": "GB", "names": {"en": "United Kingdom"}},
    "subdivisions": [{"iso_code": "ENG", "names": {"en": "England"}}],
    "postal": {"code": "EC1A"},
    "location": {"latitude": MmdbF64(51.5142), "longitude": MmdbF64(-0.0931),
                 "accuracy_radius": MmdbU16(100)},
})
w.insert_network(IPSet(["2.125.160.0/24"]), {
    "country": {"iso_code": "SE", "names": {"en": "Sweden"}},
})
w.to_db_file(sys.argv[1])
"#;
    let status = std::process::Command::new(venv_python())
        .args(["-c", SCRIPT])
        .arg(path)
        .status()
        .expect("run the venv python");
    assert!(status.success(), "writing the GeoIP database failed");
}
