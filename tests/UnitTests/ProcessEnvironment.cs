namespace Occystrap.UnitTests;

/// <summary>
/// Tests that set process environment variables (SOURCE_DATE_EPOCH, XDG_CACHE_HOME, DOCKER_CONFIG), and tests whose
/// results depend on them (the layer cache's pipeline hash includes SOURCE_DATE_EPOCH): they run one at a time,
/// and never beside other tests.
/// </summary>
[CollectionDefinition("process environment", DisableParallelization = true)]
public sealed class ProcessEnvironment;
