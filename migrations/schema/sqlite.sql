-- Ninety's schema at revision 0016: written by tools/schema_snapshot.py, do not edit
CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
CREATE TABLE account_balance (
	account VARCHAR NOT NULL, 
	token VARCHAR NOT NULL, 
	credited VARCHAR(78) NOT NULL, 
	withdrawn VARCHAR(78) NOT NULL, 
	PRIMARY KEY (account, token)
);
CREATE TABLE artist_stats (
	artist VARCHAR NOT NULL, 
	token VARCHAR NOT NULL, 
	sales INTEGER NOT NULL, 
	gross VARCHAR(78) NOT NULL, 
	fees VARCHAR(78) NOT NULL, 
	PRIMARY KEY (artist, token)
);
CREATE TABLE checkpoint (
	contract VARCHAR NOT NULL, 
	chain_id INTEGER NOT NULL, 
	start_block INTEGER NOT NULL, 
	block_number INTEGER NOT NULL, 
	block_hash VARCHAR NOT NULL, 
	reorgs INTEGER NOT NULL, 
	updated_at FLOAT NOT NULL, 
	PRIMARY KEY (contract)
);
CREATE TABLE distribution (
	block_number INTEGER NOT NULL, 
	block_hash VARCHAR NOT NULL, 
	tx_hash VARCHAR NOT NULL, 
	log_index INTEGER NOT NULL, 
	id INTEGER NOT NULL, 
	split_id VARCHAR NOT NULL, 
	token VARCHAR NOT NULL, 
	amount VARCHAR(78) NOT NULL, 
	block_time INTEGER NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (tx_hash, log_index)
);
CREATE INDEX ix_distribution_block_number ON distribution (block_number);
CREATE INDEX ix_distribution_split_id ON distribution (split_id);
CREATE TABLE fee_change (
	block_number INTEGER NOT NULL, 
	block_hash VARCHAR NOT NULL, 
	tx_hash VARCHAR NOT NULL, 
	log_index INTEGER NOT NULL, 
	id INTEGER NOT NULL, 
	previous_bps INTEGER NOT NULL, 
	new_bps INTEGER NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (tx_hash, log_index)
);
CREATE INDEX ix_fee_change_block_number ON fee_change (block_number);
CREATE TABLE fee_recipient_change (
	block_number INTEGER NOT NULL, 
	block_hash VARCHAR NOT NULL, 
	tx_hash VARCHAR NOT NULL, 
	log_index INTEGER NOT NULL, 
	id INTEGER NOT NULL, 
	previous_recipient VARCHAR NOT NULL, 
	new_recipient VARCHAR NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (tx_hash, log_index)
);
CREATE INDEX ix_fee_recipient_change_block_number ON fee_recipient_change (block_number);
CREATE TABLE indexed_block (
	number INTEGER NOT NULL, 
	hash VARCHAR NOT NULL, 
	parent_hash VARCHAR NOT NULL, 
	timestamp INTEGER NOT NULL, 
	PRIMARY KEY (number)
);
CREATE TABLE sale (
	block_number INTEGER NOT NULL, 
	block_hash VARCHAR NOT NULL, 
	tx_hash VARCHAR NOT NULL, 
	log_index INTEGER NOT NULL, 
	id INTEGER NOT NULL, 
	track_id INTEGER NOT NULL, 
	buyer VARCHAR NOT NULL, 
	token VARCHAR NOT NULL, 
	amount VARCHAR(78) NOT NULL, 
	platform_fee VARCHAR(78) NOT NULL, 
	split_id VARCHAR NOT NULL, 
	artist VARCHAR NOT NULL, 
	fee_recipient VARCHAR NOT NULL, 
	block_time INTEGER NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (tx_hash, log_index)
);
CREATE INDEX ix_sale_block_log ON sale (block_number, log_index);
CREATE INDEX ix_sale_buyer_block ON sale (buyer, block_number, log_index);
CREATE INDEX ix_sale_track_block ON sale (track_id, block_number, log_index);
CREATE TABLE sales_pause (
	block_number INTEGER NOT NULL, 
	block_hash VARCHAR NOT NULL, 
	tx_hash VARCHAR NOT NULL, 
	log_index INTEGER NOT NULL, 
	id INTEGER NOT NULL, 
	paused BOOLEAN NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (tx_hash, log_index)
);
CREATE INDEX ix_sales_pause_block_number ON sales_pause (block_number);
CREATE TABLE split (
	block_number INTEGER NOT NULL, 
	block_hash VARCHAR NOT NULL, 
	tx_hash VARCHAR NOT NULL, 
	log_index INTEGER NOT NULL, 
	split_id VARCHAR NOT NULL, 
	recipient_count INTEGER NOT NULL, 
	PRIMARY KEY (split_id), 
	UNIQUE (tx_hash, log_index)
);
CREATE INDEX ix_split_block_number ON split (block_number);
CREATE TABLE split_balance (
	split_id VARCHAR NOT NULL, 
	token VARCHAR NOT NULL, 
	received VARCHAR(78) NOT NULL, 
	distributed VARCHAR(78) NOT NULL, 
	PRIMARY KEY (split_id, token)
);
CREATE TABLE token_allowance (
	block_number INTEGER NOT NULL, 
	block_hash VARCHAR NOT NULL, 
	tx_hash VARCHAR NOT NULL, 
	log_index INTEGER NOT NULL, 
	id INTEGER NOT NULL, 
	token VARCHAR NOT NULL, 
	allowed BOOLEAN NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (tx_hash, log_index)
);
CREATE INDEX ix_token_allowance_block_number ON token_allowance (block_number);
CREATE INDEX ix_token_allowance_token ON token_allowance (token);
CREATE TABLE track_stats (
	track_id INTEGER NOT NULL, 
	token VARCHAR NOT NULL, 
	sales INTEGER NOT NULL, 
	gross VARCHAR(78) NOT NULL, 
	fees VARCHAR(78) NOT NULL, 
	PRIMARY KEY (track_id, token)
);
CREATE TABLE split_recipient (
	split_id VARCHAR NOT NULL, 
	position INTEGER NOT NULL, 
	recipient VARCHAR NOT NULL, 
	share_ppm INTEGER NOT NULL, 
	PRIMARY KEY (split_id, position), 
	FOREIGN KEY(split_id) REFERENCES split (split_id)
);
CREATE INDEX ix_split_recipient_recipient ON split_recipient (recipient);
CREATE TABLE auth_nonce (
	nonce VARCHAR NOT NULL, 
	created_at FLOAT NOT NULL, 
	expires_at FLOAT NOT NULL, 
	used BOOLEAN NOT NULL, 
	PRIMARY KEY (nonce)
);
CREATE TABLE auth_session (
	token_hash VARCHAR NOT NULL, 
	address VARCHAR NOT NULL, 
	created_at FLOAT NOT NULL, 
	expires_at FLOAT NOT NULL, 
	revoked BOOLEAN NOT NULL, 
	PRIMARY KEY (token_hash)
);
CREATE INDEX ix_auth_session_address ON auth_session (address);
CREATE TABLE upload (
	id INTEGER NOT NULL, 
	artist VARCHAR NOT NULL, 
	metadata_cid VARCHAR NOT NULL, 
	audio_cid VARCHAR NOT NULL, 
	preview_cid VARCHAR NOT NULL, 
	artwork_cid VARCHAR NOT NULL, 
	file_name VARCHAR NOT NULL, 
	content_type VARCHAR NOT NULL, 
	size INTEGER NOT NULL, 
	sha256 VARCHAR NOT NULL, 
	chunk_size INTEGER NOT NULL, 
	nonce_prefix VARCHAR NOT NULL, 
	wrapped_key VARCHAR NOT NULL, 
	created_at FLOAT NOT NULL, audio_hash VARCHAR, fingerprint BLOB, duration FLOAT, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_upload_artist ON upload (artist);
CREATE INDEX ix_upload_audio_cid ON upload (audio_cid);
CREATE UNIQUE INDEX ix_upload_metadata_cid ON upload (metadata_cid);
CREATE TABLE artist_buyer (
	artist VARCHAR NOT NULL, 
	token VARCHAR NOT NULL, 
	buyer VARCHAR NOT NULL, 
	sales INTEGER NOT NULL, 
	PRIMARY KEY (artist, token, buyer)
);
CREATE INDEX ix_sale_artist_block ON sale (artist, block_number, log_index);
CREATE INDEX ix_sale_split_block ON sale (split_id, block_number, log_index);
CREATE INDEX ix_sale_time ON sale (block_time, block_number, log_index);
CREATE INDEX ix_sale_token_block ON sale (token, block_number, log_index);
CREATE TABLE track_day (
	track_id INTEGER NOT NULL, 
	token VARCHAR NOT NULL, 
	day INTEGER NOT NULL, 
	sales INTEGER NOT NULL, 
	gross VARCHAR(78) NOT NULL, 
	PRIMARY KEY (track_id, token, day)
);
CREATE TABLE track_split (
	track_id INTEGER NOT NULL, 
	split_id VARCHAR NOT NULL, 
	token VARCHAR NOT NULL, 
	net VARCHAR(78) NOT NULL, 
	PRIMARY KEY (track_id, split_id, token)
);
CREATE TABLE pool_claim (
	block_number INTEGER NOT NULL, 
	block_hash VARCHAR NOT NULL, 
	tx_hash VARCHAR NOT NULL, 
	log_index INTEGER NOT NULL, 
	id INTEGER NOT NULL, 
	epoch INTEGER NOT NULL, 
	split_id VARCHAR NOT NULL, 
	token VARCHAR NOT NULL, 
	amount VARCHAR(78) NOT NULL, 
	block_time INTEGER NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (tx_hash, log_index)
);
CREATE INDEX ix_pool_claim_block_number ON pool_claim (block_number);
CREATE INDEX ix_pool_claim_epoch ON pool_claim (epoch);
CREATE INDEX ix_pool_claim_split_id ON pool_claim (split_id);
CREATE TABLE pool_deposit (
	block_number INTEGER NOT NULL, 
	block_hash VARCHAR NOT NULL, 
	tx_hash VARCHAR NOT NULL, 
	log_index INTEGER NOT NULL, 
	id INTEGER NOT NULL, 
	epoch INTEGER NOT NULL, 
	sponsor VARCHAR NOT NULL, 
	token VARCHAR NOT NULL, 
	amount VARCHAR(78) NOT NULL, 
	block_time INTEGER NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (tx_hash, log_index)
);
CREATE INDEX ix_pool_deposit_block_number ON pool_deposit (block_number);
CREATE INDEX ix_pool_deposit_epoch ON pool_deposit (epoch);
CREATE INDEX ix_pool_deposit_sponsor ON pool_deposit (sponsor);
CREATE TABLE pool_total (
	epoch INTEGER NOT NULL, 
	token VARCHAR NOT NULL, 
	funded VARCHAR(78) NOT NULL, 
	withdrawn VARCHAR(78) NOT NULL, 
	settled VARCHAR(78) NOT NULL, 
	allocated VARCHAR(78) NOT NULL, 
	claimed VARCHAR(78) NOT NULL, 
	PRIMARY KEY (epoch, token)
);
CREATE TABLE pool_withdrawal (
	block_number INTEGER NOT NULL, 
	block_hash VARCHAR NOT NULL, 
	tx_hash VARCHAR NOT NULL, 
	log_index INTEGER NOT NULL, 
	id INTEGER NOT NULL, 
	epoch INTEGER NOT NULL, 
	sponsor VARCHAR NOT NULL, 
	token VARCHAR NOT NULL, 
	amount VARCHAR(78) NOT NULL, 
	block_time INTEGER NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (tx_hash, log_index)
);
CREATE INDEX ix_pool_withdrawal_block_number ON pool_withdrawal (block_number);
CREATE INDEX ix_pool_withdrawal_epoch ON pool_withdrawal (epoch);
CREATE INDEX ix_pool_withdrawal_sponsor ON pool_withdrawal (sponsor);
CREATE TABLE epoch_report (
	epoch INTEGER NOT NULL, 
	report_cid VARCHAR NOT NULL, 
	report_json VARCHAR NOT NULL, 
	created_at FLOAT NOT NULL, 
	PRIMARY KEY (epoch)
);
CREATE TABLE track_block (
	block_number INTEGER NOT NULL, 
	block_hash VARCHAR NOT NULL, 
	tx_hash VARCHAR NOT NULL, 
	log_index INTEGER NOT NULL, 
	id INTEGER NOT NULL, 
	track_id INTEGER NOT NULL, 
	blocked BOOLEAN NOT NULL, 
	reason_cid VARCHAR NOT NULL, 
	block_time INTEGER NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (tx_hash, log_index)
);
CREATE INDEX ix_track_block_block_number ON track_block (block_number);
CREATE INDEX ix_track_block_track_id ON track_block (track_id);
CREATE TABLE catalog_signer_change (
	block_number INTEGER NOT NULL, 
	block_hash VARCHAR NOT NULL, 
	tx_hash VARCHAR NOT NULL, 
	log_index INTEGER NOT NULL, 
	id INTEGER NOT NULL, 
	previous_signer VARCHAR NOT NULL, 
	new_signer VARCHAR NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (tx_hash, log_index)
);
CREATE INDEX ix_catalog_signer_change_block_number ON catalog_signer_change (block_number);
CREATE TABLE upload_refusal (
	id INTEGER NOT NULL, 
	wallet VARCHAR NOT NULL, 
	created_at FLOAT NOT NULL, 
	audio_hash VARCHAR NOT NULL, 
	file_name VARCHAR NOT NULL, 
	matched_track_id INTEGER NOT NULL, 
	match_kind VARCHAR NOT NULL, 
	similarity FLOAT, 
	overlap_seconds FLOAT, 
	blocked_match BOOLEAN NOT NULL, 
	allowed_at FLOAT, 
	allowed_note VARCHAR, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_upload_refusal_wallet ON upload_refusal (wallet);
CREATE INDEX ix_upload_refusal_created_at ON upload_refusal (created_at);
CREATE INDEX ix_upload_refusal_audio_hash ON upload_refusal (audio_hash);
CREATE TABLE counter_notice (
	id INTEGER NOT NULL, 
	wallet VARCHAR NOT NULL, 
	refusal_id INTEGER, 
	track_id INTEGER, 
	statement VARCHAR NOT NULL, 
	contact VARCHAR NOT NULL, 
	created_at FLOAT NOT NULL, 
	status VARCHAR NOT NULL, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_counter_notice_wallet ON counter_notice (wallet);
CREATE INDEX ix_counter_notice_refusal_id ON counter_notice (refusal_id);
CREATE INDEX ix_counter_notice_track_id ON counter_notice (track_id);
CREATE TABLE "track" (
	block_number INTEGER NOT NULL, 
	block_hash VARCHAR NOT NULL, 
	tx_hash VARCHAR NOT NULL, 
	log_index INTEGER NOT NULL, 
	track_id INTEGER NOT NULL, 
	artist VARCHAR NOT NULL, 
	split_id VARCHAR NOT NULL, 
	token VARCHAR NOT NULL, 
	price VARCHAR(78) NOT NULL, 
	listed BOOLEAN NOT NULL, 
	metadata_cid VARCHAR NOT NULL, 
	registered_price VARCHAR(78) NOT NULL, 
	registered_split_id VARCHAR NOT NULL, 
	block_time INTEGER NOT NULL, 
	title VARCHAR, 
	artist_name VARCHAR, 
	genre VARCHAR, 
	duration FLOAT, 
	artwork_cid VARCHAR, 
	preview_cid VARCHAR, 
	audio_cid VARCHAR, 
	metadata_json VARCHAR, 
	metadata_status VARCHAR NOT NULL, 
	metadata_error VARCHAR, 
	metadata_attempts INTEGER NOT NULL, 
	metadata_next_attempt FLOAT NOT NULL, 
	uploaded_by VARCHAR, 
	genuine BOOLEAN DEFAULT 0 NOT NULL, 
	blocked BOOLEAN DEFAULT 0 NOT NULL, 
	block_reason_cid VARCHAR, 
	price_sort VARCHAR DEFAULT '' NOT NULL, 
	sales INTEGER DEFAULT '0' NOT NULL, kind VARCHAR DEFAULT 'track' NOT NULL, 
	PRIMARY KEY (track_id), 
	UNIQUE (tx_hash, log_index)
);
CREATE INDEX ix_track_split_id ON track (split_id);
CREATE INDEX ix_track_block_number ON track (block_number);
CREATE INDEX ix_track_artist ON track (artist);
CREATE INDEX ix_track_genuine ON track (genuine);
CREATE INDEX ix_track_price_sort ON track (price_sort);
CREATE INDEX ix_track_sales ON track (sales);
CREATE INDEX ix_upload_audio_hash ON upload (audio_hash);
CREATE TABLE rate_limit (
	"key" VARCHAR NOT NULL, 
	hits INTEGER NOT NULL, 
	expires_at FLOAT NOT NULL, 
	PRIMARY KEY ("key")
);
CREATE INDEX ix_rate_limit_expires_at ON rate_limit (expires_at);
CREATE INDEX ix_auth_nonce_expires_at ON auth_nonce (expires_at);
CREATE INDEX ix_auth_session_expires_at ON auth_session (expires_at);
CREATE TABLE "pool_settlement" (
	block_number INTEGER NOT NULL, 
	block_hash VARCHAR NOT NULL, 
	tx_hash VARCHAR NOT NULL, 
	log_index INTEGER NOT NULL, 
	id INTEGER NOT NULL, 
	epoch INTEGER NOT NULL, 
	token VARCHAR NOT NULL, 
	pool VARCHAR(78) NOT NULL, 
	allocated VARCHAR(78) NOT NULL, 
	platform_fee VARCHAR(78) NOT NULL, 
	carried_over VARCHAR(78) NOT NULL, 
	fee_recipient VARCHAR NOT NULL, 
	block_time INTEGER NOT NULL, 
	carried_to_epoch INTEGER NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (tx_hash, log_index)
);
CREATE INDEX ix_pool_settlement_block_number ON pool_settlement (block_number);
CREATE INDEX ix_pool_settlement_epoch ON pool_settlement (epoch);
CREATE TABLE "epoch" (
	block_number INTEGER NOT NULL, 
	block_hash VARCHAR NOT NULL, 
	tx_hash VARCHAR NOT NULL, 
	log_index INTEGER NOT NULL, 
	id INTEGER NOT NULL, 
	epoch INTEGER NOT NULL, 
	root VARCHAR NOT NULL, 
	report_cid VARCHAR NOT NULL, 
	block_time INTEGER NOT NULL, 
	listens_root VARCHAR NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (tx_hash, log_index)
);
CREATE INDEX ix_epoch_block_number ON epoch (block_number);
CREATE UNIQUE INDEX ix_epoch_epoch ON epoch (epoch);
CREATE TABLE pool_rules (
	block_number INTEGER NOT NULL, 
	block_hash VARCHAR NOT NULL, 
	tx_hash VARCHAR NOT NULL, 
	log_index INTEGER NOT NULL, 
	id INTEGER NOT NULL, 
	from_epoch INTEGER NOT NULL, 
	rules_hash VARCHAR NOT NULL, 
	rules_cid VARCHAR NOT NULL, 
	block_time INTEGER NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (tx_hash, log_index)
);
CREATE INDEX ix_pool_rules_block_number ON pool_rules (block_number);
CREATE INDEX ix_pool_rules_from_epoch ON pool_rules (from_epoch);
CREATE TABLE "free_download" (
	epoch INTEGER NOT NULL, 
	track_id INTEGER NOT NULL, 
	wallet VARCHAR NOT NULL, 
	split_id VARCHAR NOT NULL, 
	created_at FLOAT NOT NULL, 
	signature VARCHAR NOT NULL, 
	block_number INTEGER NOT NULL, 
	block_time INTEGER NOT NULL, 
	receipt VARCHAR NOT NULL, 
	PRIMARY KEY (epoch, track_id, wallet)
);
CREATE TABLE track_split_change (
	block_number INTEGER NOT NULL, 
	block_hash VARCHAR NOT NULL, 
	tx_hash VARCHAR NOT NULL, 
	log_index INTEGER NOT NULL, 
	id INTEGER NOT NULL, 
	track_id INTEGER NOT NULL, 
	previous_split_id VARCHAR NOT NULL, 
	split_id VARCHAR NOT NULL, 
	block_time INTEGER NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (tx_hash, log_index)
);
CREATE INDEX ix_track_split_change_block_number ON track_split_change (block_number);
CREATE INDEX ix_track_split_change_track_block ON track_split_change (track_id, block_number, log_index);
CREATE TABLE split_proposal (
	block_number INTEGER NOT NULL, 
	block_hash VARCHAR NOT NULL, 
	tx_hash VARCHAR NOT NULL, 
	log_index INTEGER NOT NULL, 
	id INTEGER NOT NULL, 
	track_id INTEGER NOT NULL, 
	split_id VARCHAR NOT NULL, 
	must_consent VARCHAR NOT NULL, 
	status VARCHAR NOT NULL, 
	block_time INTEGER NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (tx_hash, log_index)
);
CREATE INDEX ix_split_proposal_block_number ON split_proposal (block_number);
CREATE INDEX ix_split_proposal_status ON split_proposal (status);
CREATE INDEX ix_split_proposal_track_block ON split_proposal (track_id, block_number, log_index);
CREATE TABLE split_consent (
	block_number INTEGER NOT NULL, 
	block_hash VARCHAR NOT NULL, 
	tx_hash VARCHAR NOT NULL, 
	log_index INTEGER NOT NULL, 
	id INTEGER NOT NULL, 
	track_id INTEGER NOT NULL, 
	split_id VARCHAR NOT NULL, 
	payee VARCHAR NOT NULL, 
	missing INTEGER NOT NULL, 
	block_time INTEGER NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (tx_hash, log_index)
);
CREATE INDEX ix_split_consent_block_number ON split_consent (block_number);
CREATE INDEX ix_split_consent_payee ON split_consent (payee);
CREATE INDEX ix_split_consent_track_split ON split_consent (track_id, split_id, block_number, log_index);
CREATE TABLE split_proposal_cancellation (
	block_number INTEGER NOT NULL, 
	block_hash VARCHAR NOT NULL, 
	tx_hash VARCHAR NOT NULL, 
	log_index INTEGER NOT NULL, 
	id INTEGER NOT NULL, 
	track_id INTEGER NOT NULL, 
	block_time INTEGER NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (tx_hash, log_index)
);
CREATE INDEX ix_split_proposal_cancellation_block_number ON split_proposal_cancellation (block_number);
CREATE INDEX ix_split_proposal_cancellation_track_id ON split_proposal_cancellation (track_id);
CREATE TABLE "track_update" (
	block_number INTEGER NOT NULL, 
	block_hash VARCHAR NOT NULL, 
	tx_hash VARCHAR NOT NULL, 
	log_index INTEGER NOT NULL, 
	id INTEGER NOT NULL, 
	track_id INTEGER NOT NULL, 
	price VARCHAR(78) NOT NULL, 
	listed BOOLEAN NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (tx_hash, log_index)
);
CREATE INDEX ix_track_update_track_id ON track_update (track_id);
CREATE INDEX ix_track_update_block_number ON track_update (block_number);
CREATE TABLE "withdrawal" (
	block_number INTEGER NOT NULL, 
	block_hash VARCHAR NOT NULL, 
	tx_hash VARCHAR NOT NULL, 
	log_index INTEGER NOT NULL, 
	id INTEGER NOT NULL, 
	account VARCHAR NOT NULL, 
	token VARCHAR NOT NULL, 
	amount VARCHAR(78) NOT NULL, 
	block_time INTEGER NOT NULL, 
	paid_to VARCHAR NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (tx_hash, log_index)
);
CREATE INDEX ix_withdrawal_account ON withdrawal (account);
CREATE INDEX ix_withdrawal_block_log ON withdrawal (block_number, log_index);
CREATE INDEX ix_withdrawal_token ON withdrawal (token);
CREATE INDEX ix_withdrawal_block_number ON withdrawal (block_number);
CREATE INDEX ix_withdrawal_account_block ON withdrawal (account, block_number, log_index);
CREATE INDEX ix_withdrawal_block_time ON withdrawal (block_time);
CREATE INDEX ix_track_kind ON track (kind);
CREATE TABLE release_track (
	release_id INTEGER NOT NULL, 
	position INTEGER NOT NULL, 
	track_id INTEGER NOT NULL, 
	PRIMARY KEY (release_id, position), 
	FOREIGN KEY(release_id) REFERENCES track (track_id)
);
CREATE INDEX ix_release_track_track_id ON release_track (track_id);
CREATE TABLE release_upload (
	id INTEGER NOT NULL, 
	artist VARCHAR NOT NULL, 
	metadata_cid VARCHAR NOT NULL, 
	artwork_cid VARCHAR NOT NULL, 
	track_ids VARCHAR NOT NULL, 
	created_at FLOAT NOT NULL, size INTEGER DEFAULT '0' NOT NULL, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_release_upload_artist ON release_upload (artist);
CREATE INDEX ix_release_upload_created_at ON release_upload (created_at);
CREATE UNIQUE INDEX ix_release_upload_metadata_cid ON release_upload (metadata_cid);
CREATE TABLE artist_profile (
	address VARCHAR NOT NULL, 
	name VARCHAR NOT NULL, 
	bio VARCHAR NOT NULL, 
	links_json VARCHAR NOT NULL, 
	avatar_cid VARCHAR, 
	profile_cid VARCHAR NOT NULL, 
	updated_at FLOAT NOT NULL, 
	PRIMARY KEY (address)
);
CREATE INDEX ix_artist_profile_name ON artist_profile (name);
CREATE TABLE transcode (
	id INTEGER NOT NULL, 
	upload_id INTEGER NOT NULL, 
	format VARCHAR NOT NULL, 
	cid VARCHAR NOT NULL, 
	size INTEGER NOT NULL, 
	chunk_size INTEGER NOT NULL, 
	nonce_prefix VARCHAR NOT NULL, 
	wrapped_key VARCHAR NOT NULL, 
	tags_sha256 VARCHAR NOT NULL, 
	duration FLOAT NOT NULL, 
	created_at FLOAT NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_transcode_upload_format UNIQUE (upload_id, format)
);
CREATE INDEX ix_transcode_upload_id ON transcode (upload_id);
INSERT INTO alembic_version (version_num) VALUES ('0016');
