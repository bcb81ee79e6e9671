-- Ninety's schema at revision 0016: written by tools/schema_snapshot.py, do not edit
CREATE TABLE account_balance (
    account character varying NOT NULL,
    token character varying NOT NULL,
    credited numeric(78,0) NOT NULL,
    withdrawn numeric(78,0) NOT NULL
);

CREATE TABLE alembic_version (
    version_num character varying(32) NOT NULL
);

CREATE TABLE artist_buyer (
    artist character varying NOT NULL,
    token character varying NOT NULL,
    buyer character varying NOT NULL,
    sales integer NOT NULL
);

CREATE TABLE artist_profile (
    address character varying NOT NULL,
    name character varying NOT NULL,
    bio character varying NOT NULL,
    links_json character varying NOT NULL,
    avatar_cid character varying,
    profile_cid character varying NOT NULL,
    updated_at double precision NOT NULL
);

CREATE TABLE artist_stats (
    artist character varying NOT NULL,
    token character varying NOT NULL,
    sales integer NOT NULL,
    gross numeric(78,0) NOT NULL,
    fees numeric(78,0) NOT NULL
);

CREATE TABLE auth_nonce (
    nonce character varying NOT NULL,
    created_at double precision NOT NULL,
    expires_at double precision NOT NULL,
    used boolean NOT NULL
);

CREATE TABLE auth_session (
    token_hash character varying NOT NULL,
    address character varying NOT NULL,
    created_at double precision NOT NULL,
    expires_at double precision NOT NULL,
    revoked boolean NOT NULL
);

CREATE TABLE catalog_signer_change (
    block_number integer NOT NULL,
    block_hash character varying NOT NULL,
    tx_hash character varying NOT NULL,
    log_index integer NOT NULL,
    id integer NOT NULL,
    previous_signer character varying NOT NULL,
    new_signer character varying NOT NULL
);

CREATE SEQUENCE catalog_signer_change_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE catalog_signer_change_id_seq OWNED BY catalog_signer_change.id;

CREATE TABLE checkpoint (
    contract character varying NOT NULL,
    chain_id integer NOT NULL,
    start_block integer NOT NULL,
    block_number integer NOT NULL,
    block_hash character varying NOT NULL,
    reorgs integer NOT NULL,
    updated_at double precision NOT NULL
);

CREATE TABLE counter_notice (
    id integer NOT NULL,
    wallet character varying NOT NULL,
    refusal_id integer,
    track_id integer,
    statement character varying NOT NULL,
    contact character varying NOT NULL,
    created_at double precision NOT NULL,
    status character varying NOT NULL
);

CREATE SEQUENCE counter_notice_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE counter_notice_id_seq OWNED BY counter_notice.id;

CREATE TABLE distribution (
    block_number integer NOT NULL,
    block_hash character varying NOT NULL,
    tx_hash character varying NOT NULL,
    log_index integer NOT NULL,
    id integer NOT NULL,
    split_id character varying NOT NULL,
    token character varying NOT NULL,
    amount numeric(78,0) NOT NULL,
    block_time integer NOT NULL
);

CREATE SEQUENCE distribution_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE distribution_id_seq OWNED BY distribution.id;

CREATE TABLE epoch (
    block_number integer NOT NULL,
    block_hash character varying NOT NULL,
    tx_hash character varying NOT NULL,
    log_index integer NOT NULL,
    id integer NOT NULL,
    epoch integer NOT NULL,
    root character varying NOT NULL,
    report_cid character varying NOT NULL,
    block_time integer NOT NULL,
    listens_root character varying NOT NULL
);

CREATE SEQUENCE epoch_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE epoch_id_seq OWNED BY epoch.id;

CREATE TABLE epoch_report (
    epoch integer NOT NULL,
    report_cid character varying NOT NULL,
    report_json character varying NOT NULL,
    created_at double precision NOT NULL
);

CREATE SEQUENCE epoch_report_epoch_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE epoch_report_epoch_seq OWNED BY epoch_report.epoch;

CREATE TABLE fee_change (
    block_number integer NOT NULL,
    block_hash character varying NOT NULL,
    tx_hash character varying NOT NULL,
    log_index integer NOT NULL,
    id integer NOT NULL,
    previous_bps integer NOT NULL,
    new_bps integer NOT NULL
);

CREATE SEQUENCE fee_change_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE fee_change_id_seq OWNED BY fee_change.id;

CREATE TABLE fee_recipient_change (
    block_number integer NOT NULL,
    block_hash character varying NOT NULL,
    tx_hash character varying NOT NULL,
    log_index integer NOT NULL,
    id integer NOT NULL,
    previous_recipient character varying NOT NULL,
    new_recipient character varying NOT NULL
);

CREATE SEQUENCE fee_recipient_change_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE fee_recipient_change_id_seq OWNED BY fee_recipient_change.id;

CREATE TABLE free_download (
    epoch integer NOT NULL,
    track_id integer NOT NULL,
    wallet character varying NOT NULL,
    split_id character varying NOT NULL,
    created_at double precision NOT NULL,
    signature character varying NOT NULL,
    block_number integer NOT NULL,
    block_time integer NOT NULL,
    receipt character varying NOT NULL
);

CREATE TABLE indexed_block (
    number integer NOT NULL,
    hash character varying NOT NULL,
    parent_hash character varying NOT NULL,
    "timestamp" integer NOT NULL
);

CREATE SEQUENCE indexed_block_number_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE indexed_block_number_seq OWNED BY indexed_block.number;

CREATE TABLE pool_claim (
    block_number integer NOT NULL,
    block_hash character varying NOT NULL,
    tx_hash character varying NOT NULL,
    log_index integer NOT NULL,
    id integer NOT NULL,
    epoch integer NOT NULL,
    split_id character varying NOT NULL,
    token character varying NOT NULL,
    amount numeric(78,0) NOT NULL,
    block_time integer NOT NULL
);

CREATE SEQUENCE pool_claim_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE pool_claim_id_seq OWNED BY pool_claim.id;

CREATE TABLE pool_deposit (
    block_number integer NOT NULL,
    block_hash character varying NOT NULL,
    tx_hash character varying NOT NULL,
    log_index integer NOT NULL,
    id integer NOT NULL,
    epoch integer NOT NULL,
    sponsor character varying NOT NULL,
    token character varying NOT NULL,
    amount numeric(78,0) NOT NULL,
    block_time integer NOT NULL
);

CREATE SEQUENCE pool_deposit_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE pool_deposit_id_seq OWNED BY pool_deposit.id;

CREATE TABLE pool_rules (
    block_number integer NOT NULL,
    block_hash character varying NOT NULL,
    tx_hash character varying NOT NULL,
    log_index integer NOT NULL,
    id integer NOT NULL,
    from_epoch integer NOT NULL,
    rules_hash character varying NOT NULL,
    rules_cid character varying NOT NULL,
    block_time integer NOT NULL
);

CREATE SEQUENCE pool_rules_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE pool_rules_id_seq OWNED BY pool_rules.id;

CREATE TABLE pool_settlement (
    block_number integer NOT NULL,
    block_hash character varying NOT NULL,
    tx_hash character varying NOT NULL,
    log_index integer NOT NULL,
    id integer NOT NULL,
    epoch integer NOT NULL,
    token character varying NOT NULL,
    pool numeric(78,0) NOT NULL,
    allocated numeric(78,0) NOT NULL,
    platform_fee numeric(78,0) NOT NULL,
    carried_over numeric(78,0) NOT NULL,
    fee_recipient character varying NOT NULL,
    block_time integer NOT NULL,
    carried_to_epoch integer NOT NULL
);

CREATE SEQUENCE pool_settlement_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE pool_settlement_id_seq OWNED BY pool_settlement.id;

CREATE TABLE pool_total (
    epoch integer NOT NULL,
    token character varying NOT NULL,
    funded numeric(78,0) NOT NULL,
    withdrawn numeric(78,0) NOT NULL,
    settled numeric(78,0) NOT NULL,
    allocated numeric(78,0) NOT NULL,
    claimed numeric(78,0) NOT NULL
);

CREATE TABLE pool_withdrawal (
    block_number integer NOT NULL,
    block_hash character varying NOT NULL,
    tx_hash character varying NOT NULL,
    log_index integer NOT NULL,
    id integer NOT NULL,
    epoch integer NOT NULL,
    sponsor character varying NOT NULL,
    token character varying NOT NULL,
    amount numeric(78,0) NOT NULL,
    block_time integer NOT NULL
);

CREATE SEQUENCE pool_withdrawal_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE pool_withdrawal_id_seq OWNED BY pool_withdrawal.id;

CREATE TABLE rate_limit (
    key character varying NOT NULL,
    hits integer NOT NULL,
    expires_at double precision NOT NULL
);

CREATE TABLE release_track (
    release_id integer NOT NULL,
    "position" integer NOT NULL,
    track_id integer NOT NULL
);

CREATE TABLE release_upload (
    id integer NOT NULL,
    artist character varying NOT NULL,
    metadata_cid character varying NOT NULL,
    artwork_cid character varying NOT NULL,
    track_ids character varying NOT NULL,
    created_at double precision NOT NULL,
    size integer DEFAULT 0 NOT NULL
);

CREATE SEQUENCE release_upload_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE release_upload_id_seq OWNED BY release_upload.id;

CREATE TABLE sale (
    block_number integer NOT NULL,
    block_hash character varying NOT NULL,
    tx_hash character varying NOT NULL,
    log_index integer NOT NULL,
    id integer NOT NULL,
    track_id integer NOT NULL,
    buyer character varying NOT NULL,
    token character varying NOT NULL,
    amount numeric(78,0) NOT NULL,
    platform_fee numeric(78,0) NOT NULL,
    split_id character varying NOT NULL,
    artist character varying NOT NULL,
    fee_recipient character varying NOT NULL,
    block_time integer NOT NULL
);

CREATE SEQUENCE sale_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE sale_id_seq OWNED BY sale.id;

CREATE TABLE sales_pause (
    block_number integer NOT NULL,
    block_hash character varying NOT NULL,
    tx_hash character varying NOT NULL,
    log_index integer NOT NULL,
    id integer NOT NULL,
    paused boolean NOT NULL
);

CREATE SEQUENCE sales_pause_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE sales_pause_id_seq OWNED BY sales_pause.id;

CREATE TABLE split (
    block_number integer NOT NULL,
    block_hash character varying NOT NULL,
    tx_hash character varying NOT NULL,
    log_index integer NOT NULL,
    split_id character varying NOT NULL,
    recipient_count integer NOT NULL
);

CREATE TABLE split_balance (
    split_id character varying NOT NULL,
    token character varying NOT NULL,
    received numeric(78,0) NOT NULL,
    distributed numeric(78,0) NOT NULL
);

CREATE TABLE split_consent (
    block_number integer NOT NULL,
    block_hash character varying NOT NULL,
    tx_hash character varying NOT NULL,
    log_index integer NOT NULL,
    id integer NOT NULL,
    track_id integer NOT NULL,
    split_id character varying NOT NULL,
    payee character varying NOT NULL,
    missing integer NOT NULL,
    block_time integer NOT NULL
);

CREATE SEQUENCE split_consent_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE split_consent_id_seq OWNED BY split_consent.id;

CREATE TABLE split_proposal (
    block_number integer NOT NULL,
    block_hash character varying NOT NULL,
    tx_hash character varying NOT NULL,
    log_index integer NOT NULL,
    id integer NOT NULL,
    track_id integer NOT NULL,
    split_id character varying NOT NULL,
    must_consent character varying NOT NULL,
    status character varying NOT NULL,
    block_time integer NOT NULL
);

CREATE TABLE split_proposal_cancellation (
    block_number integer NOT NULL,
    block_hash character varying NOT NULL,
    tx_hash character varying NOT NULL,
    log_index integer NOT NULL,
    id integer NOT NULL,
    track_id integer NOT NULL,
    block_time integer NOT NULL
);

CREATE SEQUENCE split_proposal_cancellation_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE split_proposal_cancellation_id_seq OWNED BY split_proposal_cancellation.id;

CREATE SEQUENCE split_proposal_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE split_proposal_id_seq OWNED BY split_proposal.id;

CREATE TABLE split_recipient (
    split_id character varying NOT NULL,
    "position" integer NOT NULL,
    recipient character varying NOT NULL,
    share_ppm integer NOT NULL
);

CREATE TABLE token_allowance (
    block_number integer NOT NULL,
    block_hash character varying NOT NULL,
    tx_hash character varying NOT NULL,
    log_index integer NOT NULL,
    id integer NOT NULL,
    token character varying NOT NULL,
    allowed boolean NOT NULL
);

CREATE SEQUENCE token_allowance_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE token_allowance_id_seq OWNED BY token_allowance.id;

CREATE TABLE track (
    block_number integer NOT NULL,
    block_hash character varying NOT NULL,
    tx_hash character varying NOT NULL,
    log_index integer NOT NULL,
    track_id integer NOT NULL,
    artist character varying NOT NULL,
    split_id character varying NOT NULL,
    token character varying NOT NULL,
    price numeric(78,0) NOT NULL,
    listed boolean NOT NULL,
    metadata_cid character varying NOT NULL,
    registered_price numeric(78,0) NOT NULL,
    registered_split_id character varying NOT NULL,
    block_time integer NOT NULL,
    title character varying,
    artist_name character varying,
    genre character varying,
    duration double precision,
    artwork_cid character varying,
    preview_cid character varying,
    audio_cid character varying,
    metadata_json character varying,
    metadata_status character varying NOT NULL,
    metadata_error character varying,
    metadata_attempts integer NOT NULL,
    metadata_next_attempt double precision NOT NULL,
    uploaded_by character varying,
    genuine boolean DEFAULT false NOT NULL,
    blocked boolean DEFAULT false NOT NULL,
    block_reason_cid character varying,
    price_sort character varying DEFAULT ''::character varying NOT NULL,
    sales integer DEFAULT 0 NOT NULL,
    kind character varying DEFAULT 'track'::character varying NOT NULL
);

CREATE TABLE track_block (
    block_number integer NOT NULL,
    block_hash character varying NOT NULL,
    tx_hash character varying NOT NULL,
    log_index integer NOT NULL,
    id integer NOT NULL,
    track_id integer NOT NULL,
    blocked boolean NOT NULL,
    reason_cid character varying NOT NULL,
    block_time integer NOT NULL
);

CREATE SEQUENCE track_block_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE track_block_id_seq OWNED BY track_block.id;

CREATE TABLE track_day (
    track_id integer NOT NULL,
    token character varying NOT NULL,
    day integer NOT NULL,
    sales integer NOT NULL,
    gross numeric(78,0) NOT NULL
);

CREATE TABLE track_split (
    track_id integer NOT NULL,
    split_id character varying NOT NULL,
    token character varying NOT NULL,
    net numeric(78,0) NOT NULL
);

CREATE TABLE track_split_change (
    block_number integer NOT NULL,
    block_hash character varying NOT NULL,
    tx_hash character varying NOT NULL,
    log_index integer NOT NULL,
    id integer NOT NULL,
    track_id integer NOT NULL,
    previous_split_id character varying NOT NULL,
    split_id character varying NOT NULL,
    block_time integer NOT NULL
);

CREATE SEQUENCE track_split_change_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE track_split_change_id_seq OWNED BY track_split_change.id;

CREATE TABLE track_stats (
    track_id integer NOT NULL,
    token character varying NOT NULL,
    sales integer NOT NULL,
    gross numeric(78,0) NOT NULL,
    fees numeric(78,0) NOT NULL
);

CREATE SEQUENCE track_track_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE track_track_id_seq OWNED BY track.track_id;

CREATE TABLE track_update (
    block_number integer NOT NULL,
    block_hash character varying NOT NULL,
    tx_hash character varying NOT NULL,
    log_index integer NOT NULL,
    id integer NOT NULL,
    track_id integer NOT NULL,
    price numeric(78,0) NOT NULL,
    listed boolean NOT NULL
);

CREATE SEQUENCE track_update_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE track_update_id_seq OWNED BY track_update.id;

CREATE TABLE transcode (
    id integer NOT NULL,
    upload_id integer NOT NULL,
    format character varying NOT NULL,
    cid character varying NOT NULL,
    size integer NOT NULL,
    chunk_size integer NOT NULL,
    nonce_prefix character varying NOT NULL,
    wrapped_key character varying NOT NULL,
    tags_sha256 character varying NOT NULL,
    duration double precision NOT NULL,
    created_at double precision NOT NULL
);

CREATE SEQUENCE transcode_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE transcode_id_seq OWNED BY transcode.id;

CREATE TABLE upload (
    id integer NOT NULL,
    artist character varying NOT NULL,
    metadata_cid character varying NOT NULL,
    audio_cid character varying NOT NULL,
    preview_cid character varying NOT NULL,
    artwork_cid character varying NOT NULL,
    file_name character varying NOT NULL,
    content_type character varying NOT NULL,
    size integer NOT NULL,
    sha256 character varying NOT NULL,
    chunk_size integer NOT NULL,
    nonce_prefix character varying NOT NULL,
    wrapped_key character varying NOT NULL,
    created_at double precision NOT NULL,
    audio_hash character varying,
    fingerprint bytea,
    duration double precision
);

CREATE SEQUENCE upload_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE upload_id_seq OWNED BY upload.id;

CREATE TABLE upload_refusal (
    id integer NOT NULL,
    wallet character varying NOT NULL,
    created_at double precision NOT NULL,
    audio_hash character varying NOT NULL,
    file_name character varying NOT NULL,
    matched_track_id integer NOT NULL,
    match_kind character varying NOT NULL,
    similarity double precision,
    overlap_seconds double precision,
    blocked_match boolean NOT NULL,
    allowed_at double precision,
    allowed_note character varying
);

CREATE SEQUENCE upload_refusal_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE upload_refusal_id_seq OWNED BY upload_refusal.id;

CREATE TABLE withdrawal (
    block_number integer NOT NULL,
    block_hash character varying NOT NULL,
    tx_hash character varying NOT NULL,
    log_index integer NOT NULL,
    id integer NOT NULL,
    account character varying NOT NULL,
    token character varying NOT NULL,
    amount numeric(78,0) NOT NULL,
    block_time integer NOT NULL,
    paid_to character varying NOT NULL
);

CREATE SEQUENCE withdrawal_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE withdrawal_id_seq OWNED BY withdrawal.id;

ALTER TABLE ONLY catalog_signer_change ALTER COLUMN id SET DEFAULT nextval('catalog_signer_change_id_seq'::regclass);

ALTER TABLE ONLY counter_notice ALTER COLUMN id SET DEFAULT nextval('counter_notice_id_seq'::regclass);

ALTER TABLE ONLY distribution ALTER COLUMN id SET DEFAULT nextval('distribution_id_seq'::regclass);

ALTER TABLE ONLY epoch ALTER COLUMN id SET DEFAULT nextval('epoch_id_seq'::regclass);

ALTER TABLE ONLY epoch_report ALTER COLUMN epoch SET DEFAULT nextval('epoch_report_epoch_seq'::regclass);

ALTER TABLE ONLY fee_change ALTER COLUMN id SET DEFAULT nextval('fee_change_id_seq'::regclass);

ALTER TABLE ONLY fee_recipient_change ALTER COLUMN id SET DEFAULT nextval('fee_recipient_change_id_seq'::regclass);

ALTER TABLE ONLY indexed_block ALTER COLUMN number SET DEFAULT nextval('indexed_block_number_seq'::regclass);

ALTER TABLE ONLY pool_claim ALTER COLUMN id SET DEFAULT nextval('pool_claim_id_seq'::regclass);

ALTER TABLE ONLY pool_deposit ALTER COLUMN id SET DEFAULT nextval('pool_deposit_id_seq'::regclass);

ALTER TABLE ONLY pool_rules ALTER COLUMN id SET DEFAULT nextval('pool_rules_id_seq'::regclass);

ALTER TABLE ONLY pool_settlement ALTER COLUMN id SET DEFAULT nextval('pool_settlement_id_seq'::regclass);

ALTER TABLE ONLY pool_withdrawal ALTER COLUMN id SET DEFAULT nextval('pool_withdrawal_id_seq'::regclass);

ALTER TABLE ONLY release_upload ALTER COLUMN id SET DEFAULT nextval('release_upload_id_seq'::regclass);

ALTER TABLE ONLY sale ALTER COLUMN id SET DEFAULT nextval('sale_id_seq'::regclass);

ALTER TABLE ONLY sales_pause ALTER COLUMN id SET DEFAULT nextval('sales_pause_id_seq'::regclass);

ALTER TABLE ONLY split_consent ALTER COLUMN id SET DEFAULT nextval('split_consent_id_seq'::regclass);

ALTER TABLE ONLY split_proposal ALTER COLUMN id SET DEFAULT nextval('split_proposal_id_seq'::regclass);

ALTER TABLE ONLY split_proposal_cancellation ALTER COLUMN id SET DEFAULT nextval('split_proposal_cancellation_id_seq'::regclass);

ALTER TABLE ONLY token_allowance ALTER COLUMN id SET DEFAULT nextval('token_allowance_id_seq'::regclass);

ALTER TABLE ONLY track ALTER COLUMN track_id SET DEFAULT nextval('track_track_id_seq'::regclass);

ALTER TABLE ONLY track_block ALTER COLUMN id SET DEFAULT nextval('track_block_id_seq'::regclass);

ALTER TABLE ONLY track_split_change ALTER COLUMN id SET DEFAULT nextval('track_split_change_id_seq'::regclass);

ALTER TABLE ONLY track_update ALTER COLUMN id SET DEFAULT nextval('track_update_id_seq'::regclass);

ALTER TABLE ONLY transcode ALTER COLUMN id SET DEFAULT nextval('transcode_id_seq'::regclass);

ALTER TABLE ONLY upload ALTER COLUMN id SET DEFAULT nextval('upload_id_seq'::regclass);

ALTER TABLE ONLY upload_refusal ALTER COLUMN id SET DEFAULT nextval('upload_refusal_id_seq'::regclass);

ALTER TABLE ONLY withdrawal ALTER COLUMN id SET DEFAULT nextval('withdrawal_id_seq'::regclass);

ALTER TABLE ONLY account_balance
    ADD CONSTRAINT account_balance_pkey PRIMARY KEY (account, token);

ALTER TABLE ONLY alembic_version
    ADD CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num);

ALTER TABLE ONLY artist_buyer
    ADD CONSTRAINT artist_buyer_pkey PRIMARY KEY (artist, token, buyer);

ALTER TABLE ONLY artist_profile
    ADD CONSTRAINT artist_profile_pkey PRIMARY KEY (address);

ALTER TABLE ONLY artist_stats
    ADD CONSTRAINT artist_stats_pkey PRIMARY KEY (artist, token);

ALTER TABLE ONLY auth_nonce
    ADD CONSTRAINT auth_nonce_pkey PRIMARY KEY (nonce);

ALTER TABLE ONLY auth_session
    ADD CONSTRAINT auth_session_pkey PRIMARY KEY (token_hash);

ALTER TABLE ONLY catalog_signer_change
    ADD CONSTRAINT catalog_signer_change_pkey PRIMARY KEY (id);

ALTER TABLE ONLY catalog_signer_change
    ADD CONSTRAINT catalog_signer_change_tx_hash_log_index_key UNIQUE (tx_hash, log_index);

ALTER TABLE ONLY checkpoint
    ADD CONSTRAINT checkpoint_pkey PRIMARY KEY (contract);

ALTER TABLE ONLY counter_notice
    ADD CONSTRAINT counter_notice_pkey PRIMARY KEY (id);

ALTER TABLE ONLY distribution
    ADD CONSTRAINT distribution_pkey PRIMARY KEY (id);

ALTER TABLE ONLY distribution
    ADD CONSTRAINT distribution_tx_hash_log_index_key UNIQUE (tx_hash, log_index);

ALTER TABLE ONLY epoch
    ADD CONSTRAINT epoch_pkey PRIMARY KEY (id);

ALTER TABLE ONLY epoch_report
    ADD CONSTRAINT epoch_report_pkey PRIMARY KEY (epoch);

ALTER TABLE ONLY epoch
    ADD CONSTRAINT epoch_tx_hash_log_index_key UNIQUE (tx_hash, log_index);

ALTER TABLE ONLY fee_change
    ADD CONSTRAINT fee_change_pkey PRIMARY KEY (id);

ALTER TABLE ONLY fee_change
    ADD CONSTRAINT fee_change_tx_hash_log_index_key UNIQUE (tx_hash, log_index);

ALTER TABLE ONLY fee_recipient_change
    ADD CONSTRAINT fee_recipient_change_pkey PRIMARY KEY (id);

ALTER TABLE ONLY fee_recipient_change
    ADD CONSTRAINT fee_recipient_change_tx_hash_log_index_key UNIQUE (tx_hash, log_index);

ALTER TABLE ONLY free_download
    ADD CONSTRAINT free_download_pkey PRIMARY KEY (epoch, track_id, wallet);

ALTER TABLE ONLY indexed_block
    ADD CONSTRAINT indexed_block_pkey PRIMARY KEY (number);

ALTER TABLE ONLY pool_claim
    ADD CONSTRAINT pool_claim_pkey PRIMARY KEY (id);

ALTER TABLE ONLY pool_claim
    ADD CONSTRAINT pool_claim_tx_hash_log_index_key UNIQUE (tx_hash, log_index);

ALTER TABLE ONLY pool_deposit
    ADD CONSTRAINT pool_deposit_pkey PRIMARY KEY (id);

ALTER TABLE ONLY pool_deposit
    ADD CONSTRAINT pool_deposit_tx_hash_log_index_key UNIQUE (tx_hash, log_index);

ALTER TABLE ONLY pool_rules
    ADD CONSTRAINT pool_rules_pkey PRIMARY KEY (id);

ALTER TABLE ONLY pool_rules
    ADD CONSTRAINT pool_rules_tx_hash_log_index_key UNIQUE (tx_hash, log_index);

ALTER TABLE ONLY pool_settlement
    ADD CONSTRAINT pool_settlement_pkey PRIMARY KEY (id);

ALTER TABLE ONLY pool_settlement
    ADD CONSTRAINT pool_settlement_tx_hash_log_index_key UNIQUE (tx_hash, log_index);

ALTER TABLE ONLY pool_total
    ADD CONSTRAINT pool_total_pkey PRIMARY KEY (epoch, token);

ALTER TABLE ONLY pool_withdrawal
    ADD CONSTRAINT pool_withdrawal_pkey PRIMARY KEY (id);

ALTER TABLE ONLY pool_withdrawal
    ADD CONSTRAINT pool_withdrawal_tx_hash_log_index_key UNIQUE (tx_hash, log_index);

ALTER TABLE ONLY rate_limit
    ADD CONSTRAINT rate_limit_pkey PRIMARY KEY (key);

ALTER TABLE ONLY release_track
    ADD CONSTRAINT release_track_pkey PRIMARY KEY (release_id, "position");

ALTER TABLE ONLY release_upload
    ADD CONSTRAINT release_upload_pkey PRIMARY KEY (id);

ALTER TABLE ONLY sale
    ADD CONSTRAINT sale_pkey PRIMARY KEY (id);

ALTER TABLE ONLY sale
    ADD CONSTRAINT sale_tx_hash_log_index_key UNIQUE (tx_hash, log_index);

ALTER TABLE ONLY sales_pause
    ADD CONSTRAINT sales_pause_pkey PRIMARY KEY (id);

ALTER TABLE ONLY sales_pause
    ADD CONSTRAINT sales_pause_tx_hash_log_index_key UNIQUE (tx_hash, log_index);

ALTER TABLE ONLY split_balance
    ADD CONSTRAINT split_balance_pkey PRIMARY KEY (split_id, token);

ALTER TABLE ONLY split_consent
    ADD CONSTRAINT split_consent_pkey PRIMARY KEY (id);

ALTER TABLE ONLY split_consent
    ADD CONSTRAINT split_consent_tx_hash_log_index_key UNIQUE (tx_hash, log_index);

ALTER TABLE ONLY split
    ADD CONSTRAINT split_pkey PRIMARY KEY (split_id);

ALTER TABLE ONLY split_proposal_cancellation
    ADD CONSTRAINT split_proposal_cancellation_pkey PRIMARY KEY (id);

ALTER TABLE ONLY split_proposal_cancellation
    ADD CONSTRAINT split_proposal_cancellation_tx_hash_log_index_key UNIQUE (tx_hash, log_index);

ALTER TABLE ONLY split_proposal
    ADD CONSTRAINT split_proposal_pkey PRIMARY KEY (id);

ALTER TABLE ONLY split_proposal
    ADD CONSTRAINT split_proposal_tx_hash_log_index_key UNIQUE (tx_hash, log_index);

ALTER TABLE ONLY split_recipient
    ADD CONSTRAINT split_recipient_pkey PRIMARY KEY (split_id, "position");

ALTER TABLE ONLY split
    ADD CONSTRAINT split_tx_hash_log_index_key UNIQUE (tx_hash, log_index);

ALTER TABLE ONLY token_allowance
    ADD CONSTRAINT token_allowance_pkey PRIMARY KEY (id);

ALTER TABLE ONLY token_allowance
    ADD CONSTRAINT token_allowance_tx_hash_log_index_key UNIQUE (tx_hash, log_index);

ALTER TABLE ONLY track_block
    ADD CONSTRAINT track_block_pkey PRIMARY KEY (id);

ALTER TABLE ONLY track_block
    ADD CONSTRAINT track_block_tx_hash_log_index_key UNIQUE (tx_hash, log_index);

ALTER TABLE ONLY track_day
    ADD CONSTRAINT track_day_pkey PRIMARY KEY (track_id, token, day);

ALTER TABLE ONLY track
    ADD CONSTRAINT track_pkey PRIMARY KEY (track_id);

ALTER TABLE ONLY track_split_change
    ADD CONSTRAINT track_split_change_pkey PRIMARY KEY (id);

ALTER TABLE ONLY track_split_change
    ADD CONSTRAINT track_split_change_tx_hash_log_index_key UNIQUE (tx_hash, log_index);

ALTER TABLE ONLY track_split
    ADD CONSTRAINT track_split_pkey PRIMARY KEY (track_id, split_id, token);

ALTER TABLE ONLY track_stats
    ADD CONSTRAINT track_stats_pkey PRIMARY KEY (track_id, token);

ALTER TABLE ONLY track
    ADD CONSTRAINT track_tx_hash_log_index_key UNIQUE (tx_hash, log_index);

ALTER TABLE ONLY track_update
    ADD CONSTRAINT track_update_pkey PRIMARY KEY (id);

ALTER TABLE ONLY track_update
    ADD CONSTRAINT track_update_tx_hash_log_index_key UNIQUE (tx_hash, log_index);

ALTER TABLE ONLY transcode
    ADD CONSTRAINT transcode_pkey PRIMARY KEY (id);

ALTER TABLE ONLY upload
    ADD CONSTRAINT upload_pkey PRIMARY KEY (id);

ALTER TABLE ONLY upload_refusal
    ADD CONSTRAINT upload_refusal_pkey PRIMARY KEY (id);

ALTER TABLE ONLY transcode
    ADD CONSTRAINT uq_transcode_upload_format UNIQUE (upload_id, format);

ALTER TABLE ONLY withdrawal
    ADD CONSTRAINT withdrawal_pkey PRIMARY KEY (id);

ALTER TABLE ONLY withdrawal
    ADD CONSTRAINT withdrawal_tx_hash_log_index_key UNIQUE (tx_hash, log_index);

CREATE INDEX ix_artist_profile_name ON artist_profile USING btree (name);

CREATE INDEX ix_auth_nonce_expires_at ON auth_nonce USING btree (expires_at);

CREATE INDEX ix_auth_session_address ON auth_session USING btree (address);

CREATE INDEX ix_auth_session_expires_at ON auth_session USING btree (expires_at);

CREATE INDEX ix_catalog_signer_change_block_number ON catalog_signer_change USING btree (block_number);

CREATE INDEX ix_counter_notice_refusal_id ON counter_notice USING btree (refusal_id);

CREATE INDEX ix_counter_notice_track_id ON counter_notice USING btree (track_id);

CREATE INDEX ix_counter_notice_wallet ON counter_notice USING btree (wallet);

CREATE INDEX ix_distribution_block_number ON distribution USING btree (block_number);

CREATE INDEX ix_distribution_split_id ON distribution USING btree (split_id);

CREATE INDEX ix_epoch_block_number ON epoch USING btree (block_number);

CREATE UNIQUE INDEX ix_epoch_epoch ON epoch USING btree (epoch);

CREATE INDEX ix_fee_change_block_number ON fee_change USING btree (block_number);

CREATE INDEX ix_fee_recipient_change_block_number ON fee_recipient_change USING btree (block_number);

CREATE INDEX ix_pool_claim_block_number ON pool_claim USING btree (block_number);

CREATE INDEX ix_pool_claim_epoch ON pool_claim USING btree (epoch);

CREATE INDEX ix_pool_claim_split_id ON pool_claim USING btree (split_id);

CREATE INDEX ix_pool_deposit_block_number ON pool_deposit USING btree (block_number);

CREATE INDEX ix_pool_deposit_epoch ON pool_deposit USING btree (epoch);

CREATE INDEX ix_pool_deposit_sponsor ON pool_deposit USING btree (sponsor);

CREATE INDEX ix_pool_rules_block_number ON pool_rules USING btree (block_number);

CREATE INDEX ix_pool_rules_from_epoch ON pool_rules USING btree (from_epoch);

CREATE INDEX ix_pool_settlement_block_number ON pool_settlement USING btree (block_number);

CREATE INDEX ix_pool_settlement_epoch ON pool_settlement USING btree (epoch);

CREATE INDEX ix_pool_withdrawal_block_number ON pool_withdrawal USING btree (block_number);

CREATE INDEX ix_pool_withdrawal_epoch ON pool_withdrawal USING btree (epoch);

CREATE INDEX ix_pool_withdrawal_sponsor ON pool_withdrawal USING btree (sponsor);

CREATE INDEX ix_rate_limit_expires_at ON rate_limit USING btree (expires_at);

CREATE INDEX ix_release_track_track_id ON release_track USING btree (track_id);

CREATE INDEX ix_release_upload_artist ON release_upload USING btree (artist);

CREATE INDEX ix_release_upload_created_at ON release_upload USING btree (created_at);

CREATE UNIQUE INDEX ix_release_upload_metadata_cid ON release_upload USING btree (metadata_cid);

CREATE INDEX ix_sale_artist_block ON sale USING btree (artist, block_number, log_index);

CREATE INDEX ix_sale_block_log ON sale USING btree (block_number, log_index);

CREATE INDEX ix_sale_buyer_block ON sale USING btree (buyer, block_number, log_index);

CREATE INDEX ix_sale_split_block ON sale USING btree (split_id, block_number, log_index);

CREATE INDEX ix_sale_time ON sale USING btree (block_time, block_number, log_index);

CREATE INDEX ix_sale_token_block ON sale USING btree (token, block_number, log_index);

CREATE INDEX ix_sale_track_block ON sale USING btree (track_id, block_number, log_index);

CREATE INDEX ix_sales_pause_block_number ON sales_pause USING btree (block_number);

CREATE INDEX ix_split_block_number ON split USING btree (block_number);

CREATE INDEX ix_split_consent_block_number ON split_consent USING btree (block_number);

CREATE INDEX ix_split_consent_payee ON split_consent USING btree (payee);

CREATE INDEX ix_split_consent_track_split ON split_consent USING btree (track_id, split_id, block_number, log_index);

CREATE INDEX ix_split_proposal_block_number ON split_proposal USING btree (block_number);

CREATE INDEX ix_split_proposal_cancellation_block_number ON split_proposal_cancellation USING btree (block_number);

CREATE INDEX ix_split_proposal_cancellation_track_id ON split_proposal_cancellation USING btree (track_id);

CREATE INDEX ix_split_proposal_status ON split_proposal USING btree (status);

CREATE INDEX ix_split_proposal_track_block ON split_proposal USING btree (track_id, block_number, log_index);

CREATE INDEX ix_split_recipient_recipient ON split_recipient USING btree (recipient);

CREATE INDEX ix_token_allowance_block_number ON token_allowance USING btree (block_number);

CREATE INDEX ix_token_allowance_token ON token_allowance USING btree (token);

CREATE INDEX ix_track_artist ON track USING btree (artist);

CREATE INDEX ix_track_block_block_number ON track_block USING btree (block_number);

CREATE INDEX ix_track_block_number ON track USING btree (block_number);

CREATE INDEX ix_track_block_track_id ON track_block USING btree (track_id);

CREATE INDEX ix_track_genuine ON track USING btree (genuine);

CREATE INDEX ix_track_kind ON track USING btree (kind);

CREATE INDEX ix_track_price_sort ON track USING btree (price_sort);

CREATE INDEX ix_track_sales ON track USING btree (sales);

CREATE INDEX ix_track_split_change_block_number ON track_split_change USING btree (block_number);

CREATE INDEX ix_track_split_change_track_block ON track_split_change USING btree (track_id, block_number, log_index);

CREATE INDEX ix_track_split_id ON track USING btree (split_id);

CREATE INDEX ix_track_update_block_number ON track_update USING btree (block_number);

CREATE INDEX ix_track_update_track_id ON track_update USING btree (track_id);

CREATE INDEX ix_transcode_upload_id ON transcode USING btree (upload_id);

CREATE INDEX ix_upload_artist ON upload USING btree (artist);

CREATE INDEX ix_upload_audio_cid ON upload USING btree (audio_cid);

CREATE INDEX ix_upload_audio_hash ON upload USING btree (audio_hash);

CREATE UNIQUE INDEX ix_upload_metadata_cid ON upload USING btree (metadata_cid);

CREATE INDEX ix_upload_refusal_audio_hash ON upload_refusal USING btree (audio_hash);

CREATE INDEX ix_upload_refusal_created_at ON upload_refusal USING btree (created_at);

CREATE INDEX ix_upload_refusal_wallet ON upload_refusal USING btree (wallet);

CREATE INDEX ix_withdrawal_account ON withdrawal USING btree (account);

CREATE INDEX ix_withdrawal_account_block ON withdrawal USING btree (account, block_number, log_index);

CREATE INDEX ix_withdrawal_block_log ON withdrawal USING btree (block_number, log_index);

CREATE INDEX ix_withdrawal_block_number ON withdrawal USING btree (block_number);

CREATE INDEX ix_withdrawal_block_time ON withdrawal USING btree (block_time);

CREATE INDEX ix_withdrawal_token ON withdrawal USING btree (token);

ALTER TABLE ONLY release_track
    ADD CONSTRAINT release_track_release_id_fkey FOREIGN KEY (release_id) REFERENCES track(track_id);

ALTER TABLE ONLY split_recipient
    ADD CONSTRAINT split_recipient_split_id_fkey FOREIGN KEY (split_id) REFERENCES split(split_id);

INSERT INTO alembic_version VALUES ('0016');
