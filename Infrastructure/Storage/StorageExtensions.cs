namespace Backstop.Infrastructure.Storage;

internal static class StorageExtensions
{
    public static IServiceCollection AddStorage(this IServiceCollection services)
    {
        services.AddCheckedOptions<StorageOptions>(StorageOptions.Section);
        services.AddSingleton<IFileStore>(sp => sp.GetRequiredService<IOptions<StorageOptions>>().Value.IsS3
            ? new S3FileStore(sp.GetRequiredService<IOptions<StorageOptions>>())
            : new LocalFileStore(sp.GetRequiredService<IOptions<StorageOptions>>()));
        return services;
    }
}
