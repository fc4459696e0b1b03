//! A portal-api client for tests: requests with a bearer token, answers with their status, headers and body,
//! and workbooks read back by an independent reader (Python's standard library).

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sua_portal_api::api;

pub struct Portal {
    pub url: String,
    pub http: reqwest::Client,
}

pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Portal {
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<&Value>) -> Answer {
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let body = response.bytes().await.unwrap_or_default().to_vec();
        Answer { status, content_type, headers, body }
    }

    pub async fn get(&self, path: &str, token: &str) -> Value {
        let answer = self.call(Method::GET, path, Some(token), None).await;
        assert_eq!(answer.status, 200, "GET {path}: {}", answer.text());
        answer.json()
    }

    /// `GET path` read as the portal's own response type (`sua_portal_api::api::…`): a field the portal renamed
    /// or dropped fails here, not as a silent `null`.
    pub async fn get_as<T: DeserializeOwned>(&self, path: &str, token: &str) -> T {
        let answer = self.call(Method::GET, path, Some(token), None).await;
        assert_eq!(answer.status, 200, "GET {path}: {}", answer.text());
        serde_json::from_slice(&answer.body)
            .unwrap_or_else(|e| panic!("GET {path} is not a {}: {e}: {}", std::any::type_name::<T>(), answer.text()))
    }

    /// Every item of a paged list, following `next_cursor`; and how many pages it took.
    pub async fn all_pages<P: Paged>(&self, path: &str, token: &str) -> (Vec<P::Item>, usize) {
        let mut items = Vec::new();
        let mut pages = 0;
        let mut cursor: Option<String> = None;
        loop {
            let separator = if path.contains('?') { '&' } else { '?' };
            let url = match &cursor {
                Some(c) => format!("{path}{separator}cursor={c}"),
                None => path.to_string(),
            };
            let page: P = self.get_as(&url, token).await;
            pages += 1;
            let (page_items, next) = page.into_parts();
            items.extend(page_items);
            match next {
                Some(c) => cursor = Some(c),
                None => return (items, pages),
            }
        }
    }
}

/// A page of one of the portal's lists.
pub trait Paged: DeserializeOwned {
    type Item;
    fn into_parts(self) -> (Vec<Self::Item>, Option<String>);
}

macro_rules! paged {
    ($($page:ty => $item:ty),+ $(,)?) => {$(
        impl Paged for $page {
            type Item = $item;
            fn into_parts(self) -> (Vec<$item>, Option<String>) {
                (self.items, self.next_cursor)
            }
        }
    )+};
}

paged! {
    api::findings::Findings => api::findings::Finding,
    api::users::Users => api::users::User,
    api::calls::Usage => api::calls::UsageItem,
}

/// An amount in US dollars as the portal writes money.
pub fn usd(amount_minor: i64) -> api::Money {
    api::Money { amount_minor, currency: "USD".into() }
}

/// One cell of a workbook as a spreadsheet program sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum SheetCell {
    Text(String),
    Number(f64),
    Bool(bool),
    /// A number whose format shows a date (or date and time): the day it shows.
    Date(chrono::NaiveDate),
    /// A number shown in a currency format (`#,##0.00 "USD"`): the amount and the currency code.
    Money(f64, String),
    Empty,
}

/// The first sheet's rows, read by Python's `zipfile` and `xml.etree` with the styles applied: dates from Excel's
/// day serials, money from number formats naming a currency.
pub fn read_workbook(bytes: &[u8]) -> Vec<Vec<SheetCell>> {
    let dir = std::env::temp_dir().join(format!("sua-workbook-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let path = dir.join("report.xlsx");
    std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{e}"));
    let script = r#"
import sys, json, re, zipfile, datetime, xml.etree.ElementTree as ET
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None
ns = '{http://schemas.openxmlformats.org/spreadsheetml/2006/main}'
styles = ET.fromstring(z.read('xl/styles.xml'))
formats = {f.get('numFmtId'): f.get('formatCode') for f in styles.find(ns + 'numFmts')}
xfs = [formats.get(x.get('numFmtId'), '') for x in styles.find(ns + 'cellXfs')]
rows = []
for row in ET.fromstring(z.read('xl/worksheets/sheet1.xml')).find(ns + 'sheetData').findall(ns + 'row'):
    cells = []
    for c in row.findall(ns + 'c'):
        t, v = c.get('t'), c.find(ns + 'v')
        fmt = xfs[int(c.get('s') or 0)]
        if t == 'inlineStr':
            cells.append(['text', c.find(ns + 'is').find(ns + 't').text or ''])
        elif v is None:
            cells.append(['empty'])
        elif t == 'b':
            cells.append(['bool', v.text == '1'])
        elif 'yy' in fmt:
            day = datetime.date(1899, 12, 30) + datetime.timedelta(days=int(float(v.text)))
            cells.append(['date', day.isoformat()])
        elif re.search(r'"([A-Z]{3})"', fmt):
            cells.append(['money', float(v.text), re.search(r'"([A-Z]{3})"', fmt).group(1)])
        else:
            cells.append(['number', float(v.text)])
    rows.append(cells)
print(json.dumps(rows))
"#;
    let output = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("python3: {e}"));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(output.status.success(), "the workbook does not read: {}", String::from_utf8_lossy(&output.stderr));
    let rows: Vec<Vec<Value>> = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}"));
    rows.into_iter()
        .map(|row| {
            row.into_iter()
                .map(|c| match c[0].as_str().unwrap_or_default() {
                    "text" => SheetCell::Text(c[1].as_str().unwrap_or_default().to_string()),
                    "bool" => SheetCell::Bool(c[1].as_bool().unwrap_or_default()),
                    "date" => SheetCell::Date(c[1].as_str().unwrap_or_default().parse().unwrap_or_default()),
                    "money" => {
                        SheetCell::Money(c[1].as_f64().unwrap_or_default(), c[2].as_str().unwrap_or_default().into())
                    }
                    "number" => SheetCell::Number(c[1].as_f64().unwrap_or_default()),
                    _ => SheetCell::Empty,
                })
                .collect()
        })
        .collect()
}
