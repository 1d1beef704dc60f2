//! Forgetting each request once it is answered.
//!
//! actix keeps the heads of finished requests in per-thread pools for reuse, and a pooled
//! head still holds its URI and header values: slices of the connection's read buffer, which
//! also holds the body that came with them (a resident's words, a receipt). While one slice
//! lives, the whole buffer lives, until some later request happens to reuse that head. So
//! after each answer this middleware empties the head (URI, headers, peer address), wipes
//! the stack a POST was handled on, and closes the connection, so that its buffers are
//! freed at once (and wiped: the binary's allocator zeroes every block it frees).
//!
//! Closing every connection after one answer also means a connection cannot be held open:
//! actix times only the first request head on a connection, and drains an unread body of a
//! kept-alive request without a deadline, so a client could otherwise keep a slot for as
//! long as it liked by trickling a second head or a body nobody reads. A page costs a few
//! more connections (the page, its stylesheet, its script); on loopback or behind a proxy
//! that is nothing.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{ConnectionType, Method, Uri};
use actix_web::middleware::Next;

/// The middleware; wrap it inside every other one, so it runs last on the way out.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    // Everything that carries words, receipts or keys is a POST.
    let secret = req.method() == Method::POST;
    let response = next.call(req).await?;
    let (request, mut response) = response.into_parts();
    response
        .head_mut()
        .set_connection_type(ConnectionType::Close);
    let mut request = ServiceRequest::from_request(request);
    // `head_mut` needs the only reference to the request; every handler here has let go of
    // it by now. Should one ever keep a copy, the head is left as it is rather than the
    // worker brought down.
    let emptied = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let head = request.head_mut();
        head.uri = Uri::default();
        head.headers.clear();
        head.peer_addr = None;
    }));
    if emptied.is_err() {
        tracing::warn!("a finished request was still shared; its head was not emptied");
    }
    let (request, _payload) = request.into_parts();
    // The handler's frames ran below this one on this thread's stack: receipts and keys
    // moved by value leave copies there that nothing else would overwrite for a while.
    if secret {
        crate::crypto::wipe_stack();
    }
    Ok(ServiceResponse::new(request, response))
}
