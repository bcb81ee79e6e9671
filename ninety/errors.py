"""One exception root for the project; subclasses also inherit the matching builtin."""


class NinetyError(Exception):
    """Root of every error Ninety raises on purpose."""


class ConfigError(NinetyError, ValueError):
    """A setting is missing or malformed."""


class ServiceError(NinetyError, RuntimeError):
    """An embedded service (Anvil, the IPFS node) failed to start or stopped."""


class PortInUseError(ServiceError):
    """A requested port is taken."""


class IpfsError(NinetyError, RuntimeError):
    """The IPFS node failed or answered something we cannot trust."""


class IpfsUnavailableError(IpfsError, ConnectionError):
    """The IPFS node is down or did not answer in time."""


class CidMismatchError(IpfsError):
    """Bytes do not hash to the CID they were stored or fetched under."""


class ChainError(NinetyError, RuntimeError):
    """The chain RPC failed or the contract is not what we expect."""


class DeploymentError(NinetyError, RuntimeError):
    """Deploying the contracts failed or was refused."""
