using ApiException = Twilio.Exceptions.ApiException;
using TwilioException = Twilio.Exceptions.TwilioException;
using CreateMessageOptions = Twilio.Rest.Api.V2010.Account.CreateMessageOptions;
using MessageResource = Twilio.Rest.Api.V2010.Account.MessageResource;
using PhoneNumber = Twilio.Types.PhoneNumber;
using SystemNetHttpClient = Twilio.Http.SystemNetHttpClient;
using TwilioRestClient = Twilio.Clients.TwilioRestClient;

namespace Backstop.Infrastructure.Providers.Twilio;

internal static class TwilioRegistration
{
    public static IServiceCollection AddTwilio(this IServiceCollection services)
    {
        services.AddCheckedOptions<TwilioOptions>(TwilioOptions.Section);
        services.AddOptions<TwilioOptions>().PostConfigure<IConfiguration>((o, configuration) =>
        {
            if (string.IsNullOrWhiteSpace(o.PublicBaseUrl)) o.PublicBaseUrl = configuration[ProvidersExtensions.PublicBaseUrl];
        });
        services.AddConfigurationRule(c =>
            !string.IsNullOrWhiteSpace(c["Twilio:AuthToken"]) && string.IsNullOrWhiteSpace(c["Twilio:PublicBaseUrl"]) && string.IsNullOrWhiteSpace(c[ProvidersExtensions.PublicBaseUrl])
                ? ["Twilio:PublicBaseUrl (or the top-level PublicBaseUrl) is required when Twilio:AuthToken is set (Twilio signs the public URL it calls)."]
                : []);
        services.AddTransient<TwilioBaseUrlHandler>();
        services.AddHttpClient<TwilioClient>().AddHttpMessageHandler<TwilioBaseUrlHandler>();
        return services;
    }
}
