//! A local stand-in for GitHub's REST API: the issue-comment endpoints as GitHub documents them
//! (list with `per_page`/`page` and a `Link` header, create, update), a token check, configurable
//! failures, and a record of every request that reached it.
//!
//! It is a plain HTTP/1.1 server on 127.0.0.1 in its own thread, one connection at a time, each closed
//! after its answer: enough for a client that sends one request after another, usable from sync and
//! async tests alike.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use serde_json::{Value, json};

/// The repository the server knows; any other answers 404 as GitHub does.
pub const OWNER: &str = "acme";
pub const REPOSITORY: &str = "theory";
/// The id GitHub's `Link` headers use (`/repositories/{id}/...`) in place of `owner/repo`.
pub const REPOSITORY_ID: u64 = 1_296_269;
/// The token the server accepts.
pub const TOKEN: &str = "ghs_test0token0for0the0local0api";
/// Who the comments the client posts are from.
pub const BOT: &str = "github-actions[bot]";

/// A request as it reached the server.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// `"GET /repos/acme/theory/issues/7/comments?per_page=100"`.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.target)
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

/// A comment stored on an issue or pull request.
#[derive(Debug, Clone)]
pub struct StoredComment {
    pub id: u64,
    pub issue: u64,
    pub body: String,
    pub user: String,
}

/// An answer given instead of the real one to requests of one method.
#[derive(Debug, Clone)]
struct Fault {
    method: String,
    status: u16,
    message: String,
    headers: Vec<(String, String)>,
}

#[derive(Debug, Default)]
struct State {
    comments: Vec<StoredComment>,
    next_id: u64,
    requests: Vec<RecordedRequest>,
    faults: Vec<Fault>,
    /// Issue numbers that do not exist.
    missing_issues: Vec<u64>,
}

/// The running server; stopped when dropped.
pub struct GithubApi {
    url: String,
    state: Arc<Mutex<State>>,
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl GithubApi {
    /// Listens on a free port of 127.0.0.1.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            next_id: 1_000_001,
            ..State::default()
        }));
        let stopping = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stopping, url) = (state.clone(), stopping.clone(), url.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        serve(stream, &state, &url);
                    }
                }
            })
        };
        Self {
            url,
            state,
            stopping,
            thread: Some(thread),
        }
    }

    /// What `GITHUB_API_URL` is set to.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state().requests.clone()
    }

    /// `METHOD target` of every request so far.
    pub fn request_lines(&self) -> Vec<String> {
        self.requests().iter().map(RecordedRequest::line).collect()
    }

    /// The comments of one issue, oldest first.
    pub fn comments(&self, issue: u64) -> Vec<StoredComment> {
        let state = self.state();
        state
            .comments
            .iter()
            .filter(|comment| comment.issue == issue)
            .cloned()
            .collect()
    }

    /// Adds a comment as if someone had posted it; returns its id.
    pub fn add_comment(&self, issue: u64, user: &str, body: &str) -> u64 {
        let mut state = self.state();
        let id = state.next_id;
        state.next_id += 1;
        state.comments.push(StoredComment {
            id,
            issue,
            body: body.to_owned(),
            user: user.to_owned(),
        });
        id
    }

    /// Answers every request of `method` with `status` and GitHub's error body.
    pub fn fail(&self, method: &str, status: u16, message: &str) {
        self.fail_with_headers(method, status, message, &[]);
    }

    pub fn fail_with_headers(
        &self,
        method: &str,
        status: u16,
        message: &str,
        headers: &[(&str, &str)],
    ) {
        self.state().faults.push(Fault {
            method: method.to_owned(),
            status,
            message: message.to_owned(),
            headers: headers
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect(),
        });
    }

    /// Makes an issue number answer 404.
    pub fn remove_issue(&self, issue: u64) {
        self.state().missing_issues.push(issue);
    }
}

impl Drop for GithubApi {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn json(status: u16, body: &Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.to_string(),
        }
    }

    fn error(status: u16, message: &str) -> Self {
        Self::json(
            status,
            &json!({
                "message": message,
                "documentation_url": "https://docs.github.com/rest",
                "status": status.to_string(),
            }),
        )
    }
}

fn serve(stream: TcpStream, state: &Mutex<State>, url: &str) {
    let Some(request) = read_request(&stream) else {
        return;
    };
    let answer = {
        let mut state = state.lock().unwrap();
        state.requests.push(request.clone());
        answer(&mut state, &request, url)
    };
    let reason = match answer.status {
        200 => "OK",
        201 => "Created",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        422 => "Unprocessable Entity",
        _ => "Error",
    };
    let mut response = format!(
        "HTTP/1.1 {} {reason}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: {}\r\n\
         connection: close\r\nx-github-api-version-selected: 2022-11-28\r\n",
        answer.status,
        answer.body.len()
    );
    for (name, value) in &answer.headers {
        let _ = write!(response, "{name}: {value}\r\n");
    }
    response.push_str("\r\n");
    response.push_str(&answer.body);
    let mut stream = stream;
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.flush();
}

fn read_request(stream: &TcpStream) -> Option<RecordedRequest> {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    let mut parts = request_line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let length: usize = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(RecordedRequest {
        method,
        target,
        headers,
        body: String::from_utf8(body).ok()?,
    })
}

fn comment_json(comment: &StoredComment, url: &str) -> Value {
    json!({
        "id": comment.id,
        "node_id": format!("IC_kwDO{}", comment.id),
        "url": format!("{url}/repos/{OWNER}/{REPOSITORY}/issues/comments/{}", comment.id),
        "html_url": format!("https://github.com/{OWNER}/{REPOSITORY}/pull/{}#issuecomment-{}", comment.issue, comment.id),
        "issue_url": format!("{url}/repos/{OWNER}/{REPOSITORY}/issues/{}", comment.issue),
        "body": comment.body,
        "user": { "login": comment.user, "type": if comment.user.ends_with("[bot]") { "Bot" } else { "User" } },
        "created_at": "2024-05-01T12:00:00Z",
        "updated_at": "2024-05-01T12:00:00Z",
        "author_association": "NONE",
    })
}

fn answer(state: &mut State, request: &RecordedRequest, url: &str) -> Answer {
    if request.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
        return Answer::error(401, "Bad credentials");
    }
    if let Some(fault) = state
        .faults
        .iter()
        .find(|fault| fault.method == request.method)
    {
        let mut answer = Answer::error(fault.status, &fault.message);
        answer.headers.clone_from(&fault.headers);
        return answer;
    }
    let (path, query) = request
        .target
        .split_once('?')
        .unwrap_or((request.target.as_str(), ""));
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let repository_id = REPOSITORY_ID.to_string();
    // `/repos/{owner}/{repo}/rest` or `/repositories/{id}/rest`, as GitHub's own links use.
    let rest = match segments.as_slice() {
        ["repos", owner, repository, rest @ ..] if *owner == OWNER && *repository == REPOSITORY => {
            rest
        }
        ["repositories", id, rest @ ..] if *id == repository_id => rest,
        _ => return Answer::error(404, "Not Found"),
    };
    match (request.method.as_str(), rest) {
        ("GET", ["issues", issue, "comments"]) => {
            let Some(issue) = existing_issue(state, issue) else {
                return Answer::error(404, "Not Found");
            };
            list(state, issue, query, url)
        }
        ("POST", ["issues", issue, "comments"]) => {
            let Some(issue) = existing_issue(state, issue) else {
                return Answer::error(404, "Not Found");
            };
            let Some(body) = body_field(request) else {
                return Answer::error(422, "Invalid request.\n\n\"body\" wasn't supplied.");
            };
            if body.chars().count() > 65_536 {
                return Answer::error(
                    422,
                    "Validation Failed: body is too long (maximum is 65536 characters)",
                );
            }
            let id = state.next_id;
            state.next_id += 1;
            let comment = StoredComment {
                id,
                issue,
                body,
                user: BOT.to_owned(),
            };
            state.comments.push(comment.clone());
            let mut answer = Answer::json(201, &comment_json(&comment, url));
            answer.headers.push((
                "location".to_owned(),
                format!("{url}/repos/{OWNER}/{REPOSITORY}/issues/comments/{id}"),
            ));
            answer
        }
        ("PATCH", ["issues", "comments", id]) => {
            let Some(body) = body_field(request) else {
                return Answer::error(422, "Invalid request.\n\n\"body\" wasn't supplied.");
            };
            if body.chars().count() > 65_536 {
                return Answer::error(
                    422,
                    "Validation Failed: body is too long (maximum is 65536 characters)",
                );
            }
            let id: Option<u64> = id.parse().ok();
            match state
                .comments
                .iter_mut()
                .find(|comment| Some(comment.id) == id)
            {
                Some(comment) => {
                    comment.body = body;
                    let comment = comment.clone();
                    Answer::json(200, &comment_json(&comment, url))
                }
                None => Answer::error(404, "Not Found"),
            }
        }
        _ => Answer::error(404, "Not Found"),
    }
}

fn existing_issue(state: &State, issue: &str) -> Option<u64> {
    let issue: u64 = issue.parse().ok()?;
    (!state.missing_issues.contains(&issue)).then_some(issue)
}

fn body_field(request: &RecordedRequest) -> Option<String> {
    let json: Value = serde_json::from_str(&request.body).ok()?;
    json.get("body")?.as_str().map(str::to_owned)
}

/// One page of comments, with the `Link` header GitHub sends (its links use the repository id).
fn list(state: &State, issue: u64, query: &str, url: &str) -> Answer {
    let parameter = |name: &str| {
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(key, _)| *key == name)
            .and_then(|(_, value)| value.parse::<usize>().ok())
    };
    let per_page = parameter("per_page").unwrap_or(30).clamp(1, 100);
    let page = parameter("page").unwrap_or(1).max(1);
    let comments: Vec<&StoredComment> = state
        .comments
        .iter()
        .filter(|comment| comment.issue == issue)
        .collect();
    let last = comments.len().div_ceil(per_page).max(1);
    let items: Vec<Value> = comments
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|comment| comment_json(comment, url))
        .collect();
    let mut answer = Answer::json(200, &Value::Array(items));
    let link = |page: usize, rel: &str| {
        format!(
            "<{url}/repositories/{REPOSITORY_ID}/issues/{issue}/comments?per_page={per_page}&page={page}>; rel=\"{rel}\""
        )
    };
    let mut links = Vec::new();
    if page > 1 {
        links.push(link(page - 1, "prev"));
    }
    if page < last {
        links.push(link(page + 1, "next"));
        links.push(link(last, "last"));
    }
    if page > 1 {
        links.push(link(1, "first"));
    }
    if !links.is_empty() {
        answer.headers.push(("link".to_owned(), links.join(", ")));
    }
    answer
}
