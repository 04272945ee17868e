//! The Flight service: read-only access to published output ports under the API's rules.
//!
//! - `Handshake` takes a token as `Authorization: Bearer …`, as HTTP Basic (the password is the
//!   token; what pyarrow's `authenticate_basic_token` sends) or as the request's payload, and
//!   answers with `authorization: Bearer …` for the calls that follow;
//! - `ListFlights` lists the ports the caller may read that have published data;
//! - `GetFlightInfo`, `PollFlightInfo` and `GetSchema` describe one port (a path descriptor
//!   `[product, port]`, or a command descriptor holding a ticket's text); the endpoint's ticket
//!   pins the version described, so the data read later is the data described;
//! - `DoGet` streams a ticket's record batches from the stored Arrow file, read on a blocking
//!   thread a few batches ahead of the client: the stored messages as they are when the whole
//!   port is asked for (no decoding, no re-encoding), decoded and re-encoded for a projection,
//!   a file with dictionaries, or a batch past 4 MiB (what gRPC clients take by default).
//!
//! Writes (`DoPut`, `DoExchange`) and actions are refused: data enters through ingest ports.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::datatypes::{Schema, SchemaRef};
use arrow::ipc::writer::IpcWriteOptions;
use arrow::record_batch::RecordBatch;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_descriptor::DescriptorType;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::{
    Action, ActionType, Criteria, Empty, FlightData, FlightDescriptor, FlightEndpoint, FlightInfo,
    HandshakeRequest, HandshakeResponse, PollInfo, PutResult, SchemaAsIpc, SchemaResult, Ticket,
};
use base64::Engine;
use futures_util::stream::{self, BoxStream, StreamExt};
use tessera_core::io::BatchSource;
use tessera_store::EncodedMessages;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Request, Response, Status, Streaming};

use super::status::status;
use super::ticket::PortTicket;
use crate::auth::{Caller, authenticate};
use crate::error::{ServiceError, ServiceResult};
use crate::outputs::{VersionChoice, readable_output, readable_ports, readable_version};
use crate::state::AppState;

/// Batches read ahead of the client.
const READ_AHEAD: usize = 4;

/// The largest stored message sent as it is; a file with a larger batch is re-encoded in
/// pieces the size gRPC clients accept by default.
const MAX_PASSTHROUGH: u64 = 4 << 20;

/// Tessera's Flight service over the server's state.
#[derive(Clone)]
pub struct TesseraFlight {
    state: AppState,
}

impl TesseraFlight {
    /// The service for `state`.
    pub fn new(state: AppState) -> TesseraFlight {
        TesseraFlight { state }
    }

    /// Who the call's `authorization` metadata says is calling.
    fn caller(&self, metadata: &MetadataMap) -> Result<Caller, Status> {
        let header = metadata.get("authorization").map(|v| v.as_bytes());
        authenticate(self.state.store(), header).map_err(status)
    }

    /// Runs `work` on a blocking thread (the store reads files) and maps its error.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(AppState) -> ServiceResult<T> + Send + 'static,
    ) -> Result<T, Status> {
        let state = self.state.clone();
        tokio::task::spawn_blocking(move || work(state))
            .await
            .map_err(|e| status(ServiceError::internal(e)))?
            .map_err(status)
    }

    /// The info of the port `descriptor` names, for `caller`.
    async fn describe(
        &self,
        caller: Caller,
        descriptor: FlightDescriptor,
    ) -> Result<FlightInfo, Status> {
        let ticket = descriptor_ticket(&descriptor).map_err(status)?;
        let info = self
            .blocking(move |state| {
                let opened = open(&state, &caller, &ticket)?;
                Ok(info(&opened, Some(descriptor)))
            })
            .await?;
        info.map_err(|e| status(ServiceError::internal(e)))
    }
}

/// A port's data opened for reading.
struct Opened {
    ticket: PortTicket,
    version: u64,
    rows: u64,
    bytes: u64,
    source: Box<dyn BatchSource>,
    /// The columns sent, as indexes in the stored file; `None` for all.
    indices: Option<Vec<usize>>,
    /// The schema sent.
    schema: SchemaRef,
}

/// Opens what `ticket` names once `caller` may read it.
fn open(state: &AppState, caller: &Caller, ticket: &PortTicket) -> ServiceResult<Opened> {
    let manifest = readable_output(state, caller, &ticket.product, &ticket.port)?;
    let version = readable_version(state, caller, &manifest, &ticket.port, ticket.version)?;
    let port = version
        .ports
        .get(&ticket.port)
        .ok_or_else(|| ServiceError::internal("a readable version lost its port"))?;
    let source = state
        .store()
        .read(&ticket.product, version.number, &ticket.port)?;
    let stored = source.schema();
    let (indices, schema) = match &ticket.columns {
        None => (None, stored),
        Some(columns) => {
            let indices = columns
                .iter()
                .map(|c| {
                    stored.index_of(c).map_err(|_| {
                        let names: Vec<&str> =
                            stored.fields().iter().map(|f| f.name().as_str()).collect();
                        ServiceError::bad_request(format!(
                            "`{c}` is not a column of {}/{} at version {}; its columns are {}",
                            ticket.product,
                            ticket.port,
                            version.number,
                            names.join(", ")
                        ))
                    })
                })
                .collect::<ServiceResult<Vec<usize>>>()?;
            let schema = stored.project(&indices).map_err(ServiceError::internal)?;
            (Some(indices), Arc::new(schema))
        }
    };
    let mut pinned = ticket.clone();
    pinned.version = VersionChoice::Pinned(version.number);
    Ok(Opened {
        ticket: pinned,
        version: version.number,
        rows: port.rows,
        bytes: port.bytes,
        source,
        indices,
        schema,
    })
}

/// The Flight info of an opened port: its schema, size and one endpoint whose ticket pins the
/// version.
fn info(
    opened: &Opened,
    descriptor: Option<FlightDescriptor>,
) -> Result<FlightInfo, arrow::error::ArrowError> {
    let descriptor = descriptor.unwrap_or_else(|| {
        FlightDescriptor::new_path(vec![
            opened.ticket.product.clone(),
            opened.ticket.port.clone(),
        ])
    });
    let endpoint = FlightEndpoint::new().with_ticket(Ticket::new(opened.ticket.render()));
    Ok(FlightInfo::new()
        .try_with_schema(&opened.schema)?
        .with_descriptor(descriptor)
        .with_endpoint(endpoint)
        .with_total_records(i64::try_from(opened.rows).unwrap_or(i64::MAX))
        .with_total_bytes(match opened.indices {
            // The stored size of a projection is not known without reading it.
            Some(_) => -1,
            None => i64::try_from(opened.bytes).unwrap_or(i64::MAX),
        })
        .with_ordered(true)
        .with_app_metadata(format!("{{\"version\":{}}}", opened.version)))
}

/// The ticket a descriptor names: `[product, port]` as a path, or a ticket's text as a command.
fn descriptor_ticket(descriptor: &FlightDescriptor) -> ServiceResult<PortTicket> {
    let invalid = |message: String| {
        ServiceError::bad_request(message).hint(
            "describe a port with the path [product, port] or the command `product/port[@VERSION]`",
        )
    };
    match DescriptorType::try_from(descriptor.r#type) {
        Ok(DescriptorType::Path) => match descriptor.path.as_slice() {
            [product, port] => PortTicket::parse(format!("{product}/{port}").as_bytes()),
            other => Err(invalid(format!(
                "a path of {} elements; a port's path is [product, port]",
                other.len()
            ))),
        },
        Ok(DescriptorType::Cmd) => PortTicket::parse(&descriptor.cmd),
        _ => Err(invalid(format!(
            "descriptor type {} is neither a path nor a command",
            descriptor.r#type
        ))),
    }
}

/// The token a handshake presents: `Bearer TOKEN`, Basic credentials whose password is the
/// token, or the first request's payload.
fn presented_token(metadata: &MetadataMap, payload: Option<&[u8]>) -> ServiceResult<String> {
    let refuse = |message: &str| {
        ServiceError::unauthorized(message.to_string()).hint(
            "send `authorization: Bearer TOKEN`, Basic credentials with the token as the \
             password, or the token as the handshake's payload",
        )
    };
    if let Some(value) = metadata.get("authorization") {
        let value = value
            .to_str()
            .map_err(|_| refuse("the authorization header is not text"))?;
        if let Some(token) = value.strip_prefix("Bearer ") {
            return Ok(token.trim().to_string());
        }
        if let Some(encoded) = value.strip_prefix("Basic ") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|_| refuse("the Basic credentials are not base64"))?;
            let text = String::from_utf8(decoded)
                .map_err(|_| refuse("the Basic credentials are not UTF-8"))?;
            let (_, password) = text
                .split_once(':')
                .ok_or_else(|| refuse("the Basic credentials are not `user:password`"))?;
            return Ok(password.to_string());
        }
        return Err(refuse(
            "the authorization header is neither Bearer nor Basic",
        ));
    }
    match payload {
        Some(token) if !token.is_empty() => std::str::from_utf8(token)
            .map(|t| t.trim().to_string())
            .map_err(|_| refuse("the handshake's payload is not a token")),
        _ => Err(refuse("the handshake presented no token")),
    }
}

/// Reads `opened` on a blocking thread, a few batches ahead, as a stream of record batches.
fn batches(opened: Opened) -> BoxStream<'static, Result<RecordBatch, FlightError>> {
    let (sender, receiver) = tokio::sync::mpsc::channel(READ_AHEAD);
    let Opened {
        mut source,
        indices,
        ticket,
        ..
    } = opened;
    tokio::task::spawn_blocking(move || {
        loop {
            let next = match source.next_batch() {
                Ok(Some(batch)) => match &indices {
                    Some(indices) => batch.project(indices).map_err(FlightError::Arrow),
                    None => Ok(batch),
                },
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(ticket = %ticket.render(), error = %e, "a Flight stream stopped early");
                    Err(FlightError::Tonic(Box::new(status(
                        ServiceError::internal(e),
                    ))))
                }
            };
            let failed = next.is_err();
            // The client went away: stop reading.
            if sender.blocking_send(next).is_err() || failed {
                break;
            }
        }
    });
    stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    })
    .boxed()
}

/// Sends a port's stored Arrow IPC messages as they are: the schema, then each record
/// batch's header and body straight from the file, read on a blocking thread a few ahead.
fn stored_messages(
    mut messages: EncodedMessages,
    schema: &Schema,
) -> BoxStream<'static, Result<FlightData, Status>> {
    let first = FlightData::from(SchemaAsIpc::new(schema, &IpcWriteOptions::default()));
    let (sender, receiver) = tokio::sync::mpsc::channel(READ_AHEAD);
    tokio::task::spawn_blocking(move || {
        loop {
            let next = match messages.next_message() {
                Ok(Some(message)) => Ok(FlightData {
                    flight_descriptor: None,
                    data_header: message.header.into(),
                    app_metadata: Default::default(),
                    data_body: message.body.into(),
                }),
                Ok(None) => break,
                Err(e) => Err(status(ServiceError::from(e))),
            };
            let failed = next.is_err();
            if sender.blocking_send(next).is_err() || failed {
                break;
            }
        }
    });
    let rest = stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    });
    stream::once(async move { Ok(first) }).chain(rest).boxed()
}

/// The stored messages of what `opened` names, when they can be sent as they are: all columns,
/// no dictionaries, no message past [`MAX_PASSTHROUGH`].
fn passthrough(state: &AppState, opened: &Opened) -> Option<EncodedMessages> {
    if opened.indices.is_some() {
        return None;
    }
    let messages = state
        .store()
        .read_encoded(&opened.ticket.product, opened.version, &opened.ticket.port)
        .ok()?;
    (!messages.has_dictionaries() && messages.largest_message() <= MAX_PASSTHROUGH)
        .then_some(messages)
}

/// Counts the bytes a stream sends and reports them when it ends or is dropped.
struct Served {
    state: AppState,
    product: String,
    bytes: Arc<AtomicU64>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let bytes = self.bytes.load(Ordering::Relaxed);
        self.state.metrics().served(&self.product, "flight", bytes);
    }
}

fn refused_write() -> Status {
    Status::unimplemented(
        "this Flight service is read-only: push data into a product with POST \
         /v1/products/PRODUCT/inputs/PORT",
    )
}

#[tonic::async_trait]
impl FlightService for TesseraFlight {
    type HandshakeStream = BoxStream<'static, Result<HandshakeResponse, Status>>;
    type ListFlightsStream = BoxStream<'static, Result<FlightInfo, Status>>;
    type DoGetStream = BoxStream<'static, Result<FlightData, Status>>;
    type DoPutStream = BoxStream<'static, Result<PutResult, Status>>;
    type DoActionStream = BoxStream<'static, Result<arrow_flight::Result, Status>>;
    type ListActionsStream = BoxStream<'static, Result<ActionType, Status>>;
    type DoExchangeStream = BoxStream<'static, Result<FlightData, Status>>;

    async fn handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<Self::HandshakeStream>, Status> {
        let (metadata, _, mut requests) = request.into_parts();
        let payload = if metadata.get("authorization").is_some() {
            None
        } else {
            requests.message().await?.map(|r| r.payload)
        };
        let token = presented_token(&metadata, payload.as_deref()).map_err(status)?;
        let bearer = format!("Bearer {token}");
        if let Caller::Anonymous =
            authenticate(self.state.store(), Some(bearer.as_bytes())).map_err(status)?
        {
            return Err(status(ServiceError::unauthorized("no token was presented")));
        }
        let value = MetadataValue::try_from(bearer.as_str())
            .map_err(|_| Status::unauthenticated("the token is not a header value"))?;
        let answer = HandshakeResponse {
            protocol_version: 0,
            payload: token.into_bytes().into(),
        };
        let mut response = Response::new(stream::iter([Ok(answer)]).boxed());
        response.metadata_mut().insert("authorization", value);
        Ok(response)
    }

    async fn list_flights(
        &self,
        request: Request<Criteria>,
    ) -> Result<Response<Self::ListFlightsStream>, Status> {
        let caller = self.caller(request.metadata())?;
        caller
            .require_reader(self.state.config().public_reads)
            .map_err(status)?;
        let infos = self
            .blocking(move |state| {
                let mut infos = Vec::new();
                for port in readable_ports(&state, &caller)? {
                    let ticket = PortTicket::pinned(
                        &port.manifest.product.name,
                        &port.port,
                        port.version.number,
                    );
                    // A version retention dropped meanwhile is no longer listed.
                    let Ok(opened) = open(&state, &caller, &ticket) else {
                        continue;
                    };
                    infos.push(info(&opened, None).map_err(ServiceError::internal)?);
                }
                Ok(infos)
            })
            .await?;
        Ok(Response::new(
            stream::iter(infos.into_iter().map(Ok)).boxed(),
        ))
    }

    async fn get_flight_info(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let caller = self.caller(request.metadata())?;
        let info = self.describe(caller, request.into_inner()).await?;
        Ok(Response::new(info))
    }

    async fn poll_flight_info(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<PollInfo>, Status> {
        // Published data is there at once: the first poll is complete.
        let caller = self.caller(request.metadata())?;
        let info = self.describe(caller, request.into_inner()).await?;
        let mut poll = PollInfo::new().with_info(info);
        poll.progress = Some(1.0);
        Ok(Response::new(poll))
    }

    async fn get_schema(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<SchemaResult>, Status> {
        let caller = self.caller(request.metadata())?;
        let ticket = descriptor_ticket(request.get_ref()).map_err(status)?;
        let schema: SchemaRef = self
            .blocking(move |state| Ok(open(&state, &caller, &ticket)?.schema))
            .await?;
        let options = IpcWriteOptions::default();
        let result = SchemaResult::try_from(SchemaAsIpc::new(&schema, &options))
            .map_err(|e| status(ServiceError::internal(e)))?;
        Ok(Response::new(result))
    }

    async fn do_get(
        &self,
        request: Request<Ticket>,
    ) -> Result<Response<Self::DoGetStream>, Status> {
        let caller = self.caller(request.metadata())?;
        let ticket = PortTicket::parse(&request.get_ref().ticket).map_err(status)?;
        let product = ticket.product.clone();
        let (opened, stored) = self
            .blocking(move |state| {
                let opened = open(&state, &caller, &ticket)?;
                let stored = passthrough(&state, &opened);
                Ok((opened, stored))
            })
            .await?;
        let schema: Arc<Schema> = opened.schema.clone();
        let served = Served {
            state: self.state.clone(),
            product,
            bytes: Arc::new(AtomicU64::new(0)),
        };
        let counted = served.bytes.clone();
        let frames = match stored {
            Some(messages) => stored_messages(messages, &schema),
            None => FlightDataEncoderBuilder::new()
                .with_schema(schema)
                .build(batches(opened))
                .map(|item| item.map_err(Status::from))
                .boxed(),
        };
        let data = frames
            .map(move |item| {
                let _keep = &served;
                if let Ok(data) = &item {
                    let size = data.data_body.len() + data.data_header.len();
                    counted.fetch_add(size as u64, Ordering::Relaxed);
                }
                item
            })
            .boxed();
        Ok(Response::new(data))
    }

    async fn do_put(
        &self,
        _request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoPutStream>, Status> {
        Err(refused_write())
    }

    async fn do_action(
        &self,
        _request: Request<Action>,
    ) -> Result<Response<Self::DoActionStream>, Status> {
        Err(Status::unimplemented(
            "this Flight service offers no actions",
        ))
    }

    async fn list_actions(
        &self,
        _request: Request<Empty>,
    ) -> Result<Response<Self::ListActionsStream>, Status> {
        Ok(Response::new(stream::empty().boxed()))
    }

    async fn do_exchange(
        &self,
        _request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoExchangeStream>, Status> {
        Err(refused_write())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(authorization: Option<&str>) -> MetadataMap {
        let mut map = MetadataMap::new();
        if let Some(value) = authorization {
            map.insert("authorization", value.parse().unwrap());
        }
        map
    }

    #[test]
    fn a_handshake_takes_a_bearer_token_basic_credentials_or_a_payload() {
        assert_eq!(
            presented_token(&metadata(Some("Bearer tsr_1")), None).unwrap(),
            "tsr_1"
        );
        let basic = base64::engine::general_purpose::STANDARD.encode("anyone:tsr_2");
        assert_eq!(
            presented_token(&metadata(Some(&format!("Basic {basic}"))), None).unwrap(),
            "tsr_2"
        );
        assert_eq!(
            presented_token(&metadata(None), Some(b"tsr_3")).unwrap(),
            "tsr_3"
        );
        for (header, payload) in [
            (Some("Digest x"), None),
            (Some("Basic %%%"), None),
            (None, None),
            (None, Some(&b""[..])),
        ] {
            let error = presented_token(&metadata(header), payload).unwrap_err();
            assert_eq!(error.kind, crate::error::ErrorKind::Unauthenticated);
        }
    }

    #[test]
    fn descriptors_name_a_port_by_path_or_command() {
        let path = FlightDescriptor::new_path(vec!["p".into(), "q".into()]);
        assert_eq!(descriptor_ticket(&path).unwrap().render(), "p/q");
        let command = FlightDescriptor::new_cmd("p/q@4?columns=a");
        assert_eq!(
            descriptor_ticket(&command).unwrap().render(),
            "p/q@4?columns=a"
        );
        let long = FlightDescriptor::new_path(vec!["p".into(), "q".into(), "r".into()]);
        assert!(descriptor_ticket(&long).is_err());
    }
}
